// ECB (crypto/ecb.c): every block on its own, no IV. `ecb(cipher_null)` is the identity.

import type { BlockCipher, BlockCipherAlgorithm, Skcipher, SkcipherAlgorithm } from '../types.js';
import { wipedError } from '../ciphers/common.js';
import { checkModeKey, checkRequest } from './common.js';

class Ecb implements Skcipher {
  readonly ivSize = 0;
  readonly blockSize: number;
  readonly #name: string;
  #cipher: BlockCipher | undefined;

  constructor(name: string, cipher: BlockCipher) {
    this.#name = name;
    this.#cipher = cipher;
    this.blockSize = cipher.blockSize;
  }

  encrypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array): void {
    const cipher = this.#cipher;
    if (!cipher) throw wipedError(this.#name);
    checkRequest(this.#name, this.blockSize, 0, data, sectorSize, ivs);
    cipher.encryptBlocks(data, data);
  }

  decrypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array): void {
    const cipher = this.#cipher;
    if (!cipher) throw wipedError(this.#name);
    checkRequest(this.#name, this.blockSize, 0, data, sectorSize, ivs);
    cipher.decryptBlocks(data, data);
  }

  wipe(): void {
    this.#cipher?.wipe();
    this.#cipher = undefined;
  }
}

/** ecb(cipher_null): checks the request shape and leaves the data alone. */
const ecbNull: Skcipher = {
  ivSize: 0,
  blockSize: 1,
  encrypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array): void {
    checkRequest('ecb(cipher_null)', 1, 0, data, sectorSize, ivs);
  },
  decrypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array): void {
    checkRequest('ecb(cipher_null)', 1, 0, data, sectorSize, ivs);
  },
  wipe(): void {},
};

/** The `ecb` template. */
export function ecbTemplate(cipher: BlockCipherAlgorithm): SkcipherAlgorithm {
  const name = `ecb(${cipher.name})`;
  return {
    name,
    ivSize: 0,
    blockSize: cipher.blockSize,
    keySizes: cipher.keySizes,
    create(key: Uint8Array): Skcipher {
      checkModeKey(name, cipher.keySizes, key);
      if (cipher.name === 'cipher_null') return ecbNull;
      return new Ecb(name, cipher.create(key));
    },
  };
}
