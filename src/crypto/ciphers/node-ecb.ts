// Block ciphers backed by OpenSSL's ECB through node:crypto (aes, camellia). One Cipher and one
// Decipher per key, created once and reused for every call: ECB without padding keeps no state
// between update() calls, and final() is never called.
//
// node:crypto has no "update into" API: update() returns a fresh Buffer. encryptBlocks() copies it
// into dst; the fast mode paths (modes/node-fast.ts) use encryptToBuffer() and fold the copy into
// their own XOR pass. Large inputs go through in chunks of CHUNK bytes: past ~128 KiB each
// update() result is a fresh mmap()ed allocation and throughput halves (measured, see
// bench/cipher-throughput.ts).

import { createCipheriv, createDecipheriv, getCiphers, type Cipher, type Decipher } from 'node:crypto';
import type { BlockCipher, BlockCipherAlgorithm } from '../types.js';
import { checkBlocks, checkKeySize, wipedError } from './common.js';

/** Bytes per update() call for large buffers. */
export const CHUNK = 64 * 1024;

export class NodeEcbCipher implements BlockCipher {
  readonly blockSize = 16;
  readonly algo: string;
  /** OpenSSL name prefix, e.g. `aes-256` (append `-ecb`, `-cbc`). */
  readonly opensslPrefix: string;
  #enc: Cipher | undefined;
  #dec: Decipher | undefined;

  constructor(algo: string, opensslPrefix: string, key: Uint8Array) {
    this.algo = algo;
    this.opensslPrefix = opensslPrefix;
    const name = `${opensslPrefix}-ecb`;
    const enc = createCipheriv(name, key, null);
    enc.setAutoPadding(false);
    const dec = createDecipheriv(name, key, null);
    dec.setAutoPadding(false);
    this.#enc = enc;
    this.#dec = dec;
  }

  /** ECB-encrypts whole blocks into a new Buffer (no copy; callers keep it or fold it into a pass). */
  encryptToBuffer(src: Uint8Array): Buffer {
    const enc = this.#enc;
    if (!enc) throw wipedError(this.algo);
    return enc.update(src);
  }

  decryptToBuffer(src: Uint8Array): Buffer {
    const dec = this.#dec;
    if (!dec) throw wipedError(this.algo);
    return dec.update(src);
  }

  encryptBlocks(src: Uint8Array, dst: Uint8Array): void {
    checkBlocks(this.algo, 16, src, dst);
    for (let off = 0; off < src.length; off += CHUNK) {
      const end = Math.min(off + CHUNK, src.length);
      dst.set(this.encryptToBuffer(src.subarray(off, end)), off);
    }
  }

  decryptBlocks(src: Uint8Array, dst: Uint8Array): void {
    checkBlocks(this.algo, 16, src, dst);
    for (let off = 0; off < src.length; off += CHUNK) {
      const end = Math.min(off + CHUNK, src.length);
      dst.set(this.decryptToBuffer(src.subarray(off, end)), off);
    }
  }

  /**
   * Drops the OpenSSL contexts. node:crypto offers no way to zero an EVP context's key schedule;
   * it is freed with the Cipher object.
   */
  wipe(): void {
    this.#enc = undefined;
    this.#dec = undefined;
  }
}

/** A BlockCipherAlgorithm whose instances are NodeEcbCipher (lets modes pick their fast paths). */
export interface NodeEcbAlgorithm extends BlockCipherAlgorithm {
  readonly backend: 'openssl';
  create(key: Uint8Array): NodeEcbCipher;
}

export function isNodeEcbAlgorithm(algo: BlockCipherAlgorithm): algo is NodeEcbAlgorithm {
  return (algo as Partial<NodeEcbAlgorithm>).backend === 'openssl';
}

/** Whether this Node's OpenSSL has `<family>-<bits>-ecb` for every key size. */
export function opensslHas(family: string, keySizes: readonly number[]): boolean {
  const have = new Set(getCiphers());
  return keySizes.every((k) => have.has(`${family}-${k * 8}-ecb`));
}

export function nodeEcbAlgorithm(name: string, family: string, keySizes: readonly number[]): NodeEcbAlgorithm {
  return {
    name,
    blockSize: 16,
    keySizes,
    backend: 'openssl',
    create(key: Uint8Array): NodeEcbCipher {
      checkKeySize(name, keySizes, key);
      return new NodeEcbCipher(name, `${family}-${key.length * 8}`, key);
    },
  };
}
