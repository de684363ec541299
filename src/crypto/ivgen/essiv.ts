// essiv:<hash>: "encrypted salt-sector IV". Since Linux 5.4 the IV encryption lives in the
// crypto API's essiv(<skcipher>,<hash>) template (crypto/essiv.c) and dm-crypt's generator only
// writes the little-endian sector number (crypt_iv_essiv_gen). Both halves are here:
//
//   generator:  IV = le64(sector) zero padded                  (as plain64)
//   template:   salt = hash(key); IV' = E_salt(IV) with the skcipher's block cipher
//               (per key: with keycount > 1 every subkey has its own salt)

import type { BlockCipher, BlockCipherAlgorithm, Skcipher, SkcipherAlgorithm } from '../types.js';
import { getBlockCipher } from '../registry.js';
import type { Hash } from './hashes.js';
import { lookupHash } from './hashes.js';
import { fillLe64 } from './plain64.js';
import type { IvGenerator, IvMode } from './types.js';

export const essivIv: IvMode = {
  name: 'essiv',
  create(p): IvGenerator {
    const ivSize = p.ivSize;
    return {
      generate(_dir, ivs, _data, sectors, n) {
        fillLe64(ivs, ivSize, sectors, n);
      },
    };
  },
};

/** parse_cipher_name: the text inside the last '(' up to the next ')' (`cbc(aes)` -> `aes`). */
function essivCipherName(innerName: string): string | undefined {
  const p = innerName.lastIndexOf('(');
  if (p < 0) return undefined;
  const q = innerName.indexOf(')', p + 1);
  return q < 0 ? undefined : innerName.slice(p + 1, q);
}

export type EssivLookup = { readonly algo: SkcipherAlgorithm } | { readonly errno: 'ENOENT' | 'EINVAL' };

/**
 * essiv_create for `essiv(<innerName>,<hashName>)` over an already resolved inner skcipher.
 * Fails as the kernel does: -EINVAL for an unparsable inner name or an unsupported combination
 * (digest size outside the block cipher's key sizes, IV size != block size, keyed hash),
 * -ENOENT for an unknown hash.
 */
export function essivTemplate(inner: SkcipherAlgorithm, innerName: string, hashName: string): EssivLookup {
  const cipherName = essivCipherName(innerName);
  if (cipherName === undefined) return { errno: 'EINVAL' };
  const h = lookupHash(hashName);
  if (!('hash' in h)) return h;
  const hash = h.hash;
  // essiv_supported_algorithms
  const cipher = getBlockCipher(cipherName);
  if (!cipher || cipher.keySizes.length === 0) return { errno: 'EINVAL' };
  const minKey = Math.min(...cipher.keySizes);
  const maxKey = Math.max(...cipher.keySizes);
  if (hash.digestSize < minKey || hash.digestSize > maxKey) return { errno: 'EINVAL' };
  if (inner.ivSize !== cipher.blockSize) return { errno: 'EINVAL' };
  return {
    algo: {
      name: `essiv(${innerName},${hashName})`,
      ivSize: inner.ivSize,
      blockSize: inner.blockSize,
      keySizes: inner.keySizes,
      create: (key) => new EssivSkcipher(inner, cipher, hash, key),
    },
  };
}

/** A keyed essiv(...) instance: the inner skcipher plus the salt-keyed IV cipher. */
class EssivSkcipher implements Skcipher {
  readonly ivSize: number;
  readonly blockSize: number;
  private readonly inner: Skcipher;
  private readonly essiv: BlockCipher;

  constructor(innerAlgo: SkcipherAlgorithm, cipher: BlockCipherAlgorithm, hash: Hash, key: Uint8Array) {
    // essiv_skcipher_setkey: the inner key first, then the salt; any failure is -EINVAL.
    const inner = innerAlgo.create(key);
    const salt = hash.digest(key);
    try {
      if (!cipher.keySizes.includes(salt.length)) {
        inner.wipe();
        throw new RangeError(`essiv: a ${salt.length}-byte digest is not a valid ${cipher.name} key`);
      }
      this.essiv = cipher.create(salt);
    } finally {
      salt.fill(0);
    }
    this.inner = inner;
    this.ivSize = inner.ivSize;
    this.blockSize = inner.blockSize;
  }

  encrypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array): void {
    this.essiv.encryptBlocks(ivs, ivs);
    this.inner.encrypt(data, sectorSize, ivs);
  }

  decrypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array): void {
    this.essiv.encryptBlocks(ivs, ivs);
    this.inner.decrypt(data, sectorSize, ivs);
  }

  wipe(): void {
    this.essiv.wipe();
    this.inner.wipe();
  }
}
