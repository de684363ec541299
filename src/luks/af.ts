// The anti-forensic splitter of LUKS (TKS1, the LUKS1 spec section 2.4; cryptsetup lib/luks1/af.c):
// a key of n bytes becomes `stripes` blocks of n bytes; all but the last are random, and the
// hash diffuser H chains them so that losing any single block loses the key.
//
//   d_0 = 0;  d_i = H(d_{i-1} xor s_i)  (i = 1..stripes-1);  s_stripes = d_{stripes-1} xor key
//
// H hashes the block in digest-sized pieces, each prefixed with its big-endian index; the last
// piece keeps only as many bytes as the block has left.

import { createHash, randomFillSync } from 'node:crypto';
import { nodeHashName } from './pbkdf.js';

const DIGEST_SIZES = new Map<string, number>();

function diffuse(block: Uint8Array, hash: string): void {
  const h = nodeHashName(hash);
  let digestSize = DIGEST_SIZES.get(h);
  if (digestSize === undefined) DIGEST_SIZES.set(h, (digestSize = createHash(h).digest().length));
  const iv = new Uint8Array(4);
  for (let i = 0, off = 0; off < block.length; i++, off += digestSize) {
    const len = Math.min(digestSize, block.length - off);
    iv[0] = i >>> 24;
    iv[1] = i >>> 16;
    iv[2] = i >>> 8;
    iv[3] = i;
    const d = createHash(h).update(iv).update(block.subarray(off, off + len)).digest();
    block.set(d.subarray(0, len), off);
  }
}

function xorInto(dst: Uint8Array, src: Uint8Array): void {
  for (let i = 0; i < dst.length; i++) dst[i]! ^= src[i]!;
}

/** AF_split: `key.length * stripes` bytes. */
export function afSplit(key: Uint8Array, stripes: number, hash: string): Uint8Array {
  const n = key.length;
  const out = new Uint8Array(n * stripes);
  randomFillSync(out, 0, n * (stripes - 1));
  const d = new Uint8Array(n);
  for (let i = 0; i < stripes - 1; i++) {
    xorInto(d, out.subarray(i * n, (i + 1) * n));
    diffuse(d, hash);
  }
  xorInto(d, key);
  out.set(d, (stripes - 1) * n);
  d.fill(0);
  return out;
}

/** AF_merge: the key of `keySize` bytes from split material. */
export function afMerge(material: Uint8Array, keySize: number, stripes: number, hash: string): Uint8Array {
  const d = new Uint8Array(keySize);
  for (let i = 0; i < stripes - 1; i++) {
    xorInto(d, material.subarray(i * keySize, (i + 1) * keySize));
    diffuse(d, hash);
  }
  xorInto(d, material.subarray((stripes - 1) * keySize, stripes * keySize));
  return d;
}

/** AF_split_sectors: bytes the split key occupies on disk, in whole 512-byte sectors. */
export function afSplitSize(keySize: number, stripes: number): number {
  return Math.ceil((keySize * stripes) / 512) * 512;
}
