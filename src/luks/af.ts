// The anti-forensic splitter of LUKS (TKS1, the LUKS1 spec section 2.4; cryptsetup lib/luks1/af.c):
// a key of n bytes becomes `stripes` blocks of n bytes; all but the last are random, and the
// hash diffuser H chains them so that losing any single block loses the key.
//
//   d_0 = 0;  d_i = H(d_{i-1} xor s_i)  (i = 1..stripes-1);  s_stripes = d_{stripes-1} xor key
//
// H hashes the block in digest-sized pieces, each prefixed with its big-endian index; the last
// piece keeps only as many bytes as the block has left.

import * as nodeCrypto from 'node:crypto';
import { createHash, randomFillSync } from 'node:crypto';
import { nodeHashName } from './pbkdf.js';

const DIGEST_SIZES = new Map<string, number>();

// crypto.hash (one shot, no Hash object) is in Node 20.12 and later; older 20.x use createHash.
const oneShot = (nodeCrypto as { hash?: (alg: string, data: Uint8Array, enc: 'buffer') => Buffer }).hash;

/**
 * The diffuser: unlocking runs it (stripes - 1) times, 4000 by default, so the cost per call
 * matters (createHash per piece was ~70 ms of a LUKS unlock). SHA-256, the default AF hash of
 * LUKS2, qemu and cryptsetup's LUKS1, has its own path: every piece plus its index fits in one
 * SHA-256 block.
 */
function diffuse(block: Uint8Array, hash: string): void {
  const h = nodeHashName(hash);
  if (h === 'sha256') {
    for (let i = 0, off = 0; off < block.length; i++, off += 32) sha256Piece(i, block, off, Math.min(32, block.length - off));
    return;
  }
  let digestSize = DIGEST_SIZES.get(h);
  if (digestSize === undefined) DIGEST_SIZES.set(h, (digestSize = createHash(h).digest().length));
  const buf = new Uint8Array(4 + digestSize);
  for (let i = 0, off = 0; off < block.length; i++, off += digestSize) {
    const len = Math.min(digestSize, block.length - off);
    buf[0] = i >>> 24;
    buf[1] = i >>> 16;
    buf[2] = i >>> 8;
    buf[3] = i;
    buf.set(block.subarray(off, off + len), 4);
    const d = oneShot ? oneShot(h, buf.subarray(0, 4 + len), 'buffer') : createHash(h).update(buf.subarray(0, 4 + len)).digest();
    block.set(d.subarray(0, len), off);
  }
  buf.fill(0);
}

// FIPS 180-4 SHA-256, for one message of at most 55 bytes (a single padded block).
const K256 = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV256 = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
const W = new Int32Array(64);
const S = new Int32Array(8);

/** block[off, off+len) = the first len bytes of SHA-256(be32(index) || block[off, off+len)), len <= 32. */
export function sha256Piece(index: number, block: Uint8Array, off: number, len: number): void {
  const n = 4 + len;
  W.fill(0, 0, 16);
  W[0] = index;
  for (let j = 0; j < len; j++) {
    const p = 4 + j;
    W[p >> 2]! |= block[off + j]! << (24 - 8 * (p & 3));
  }
  W[n >> 2]! |= 0x80 << (24 - 8 * (n & 3));
  W[15] = n * 8;
  for (let t = 16; t < 64; t++) {
    const a = W[t - 15]!;
    const b = W[t - 2]!;
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    W[t] = (W[t - 16]! + s0 + W[t - 7]! + s1) | 0;
  }
  let A = IV256[0]!, B = IV256[1]!, C = IV256[2]!, D = IV256[3]!, E = IV256[4]!, F = IV256[5]!, G = IV256[6]!, H = IV256[7]!;
  for (let t = 0; t < 64; t++) {
    const s1 = ((E >>> 6) | (E << 26)) ^ ((E >>> 11) | (E << 21)) ^ ((E >>> 25) | (E << 7));
    const t1 = (H + s1 + ((E & F) ^ (~E & G)) + K256[t]! + W[t]!) | 0;
    const s0 = ((A >>> 2) | (A << 30)) ^ ((A >>> 13) | (A << 19)) ^ ((A >>> 22) | (A << 10));
    const t2 = (s0 + ((A & B) ^ (A & C) ^ (B & C))) | 0;
    H = G;
    G = F;
    F = E;
    E = (D + t1) | 0;
    D = C;
    C = B;
    B = A;
    A = (t1 + t2) | 0;
  }
  S[0] = A + IV256[0]!;
  S[1] = B + IV256[1]!;
  S[2] = C + IV256[2]!;
  S[3] = D + IV256[3]!;
  S[4] = E + IV256[4]!;
  S[5] = F + IV256[5]!;
  S[6] = G + IV256[6]!;
  S[7] = H + IV256[7]!;
  for (let j = 0; j < len; j++) block[off + j] = S[j >> 2]! >>> (24 - 8 * (j & 3));
  W.fill(0);
  S.fill(0);
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
