// Unkeyed hashes by their kernel crypto API names, for essiv:<hash> (the essiv template looks the
// hash up as an shash). Each maps to node:crypto, or to a small local implementation for the
// CRC "hashes" the kernel also registers as shash algorithms.

import { createHash } from 'node:crypto';
import { crc32le } from './crc32.js';

export interface Hash {
  /** Kernel name: `sha256`, `rmd160`, ... */
  readonly name: string;
  readonly digestSize: number;
  digest(data: Uint8Array): Uint8Array;
}

function nodeHash(name: string, nodeName: string, digestSize: number): Hash {
  return {
    name,
    digestSize,
    digest: (data) => new Uint8Array(createHash(nodeName).update(data).digest()),
  };
}

/** crypto/crc32_generic.c: crc32_le seeded with 0, no inversion, little-endian digest. */
const crc32: Hash = {
  name: 'crc32',
  digestSize: 4,
  digest(data) {
    const v = crc32le(0, data, 0, data.length);
    return new Uint8Array([v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24]);
  },
};

const HASHES: readonly Hash[] = [
  nodeHash('md5', 'md5', 16),
  nodeHash('sha1', 'sha1', 20),
  nodeHash('sha224', 'sha224', 28),
  nodeHash('sha256', 'sha256', 32),
  nodeHash('sha384', 'sha384', 48),
  nodeHash('sha512', 'sha512', 64),
  nodeHash('rmd160', 'ripemd160', 20),
  nodeHash('sm3', 'sm3', 32),
  nodeHash('sha3-224', 'sha3-224', 28),
  nodeHash('sha3-256', 'sha3-256', 32),
  nodeHash('sha3-384', 'sha3-384', 48),
  nodeHash('sha3-512', 'sha3-512', 64),
  nodeHash('blake2b-512', 'blake2b512', 64),
  crc32,
];

const BY_NAME = new Map(HASHES.map((h) => [h.name, h]));

/** Keyed MACs the kernel has as shash: they exist, but essiv refuses them (needs a key). */
const KEYED = /^(hmac|cmac|xcbc|vmac64)\(([^()]+)\)$|^(ghash|polyval|michael_mic)$/;

export type HashLookup = { readonly hash: Hash } | { readonly errno: 'ENOENT' | 'EINVAL' };

/** crypto_alg_mod_lookup(name, SHASH) plus essiv's "needs key" check. */
export function lookupHash(name: string): HashLookup {
  const h = BY_NAME.get(name);
  if (h) return { hash: h };
  const m = KEYED.exec(name);
  if (m) {
    // hmac(sha256) exists (and is keyed); hmac(nosuch) does not.
    if (m[1] === 'hmac' && !BY_NAME.has(m[2]!)) return { errno: 'ENOENT' };
    return { errno: 'EINVAL' };
  }
  return { errno: 'ENOENT' };
}

export function hashNames(): string[] {
  return HASHES.map((h) => h.name);
}
