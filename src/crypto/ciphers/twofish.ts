// Twofish (Schneier et al., "Twofish: A 128-Bit Block Cipher", 1998), as crypto/twofish_generic.c:
// little-endian words, 16/24/32-byte keys (the kernel refuses other lengths). The key-dependent
// S-boxes are folded with the MDS matrix into four 256-entry tables ("full keying", section 7.3).
//
// Section numbers below refer to the Twofish paper.

import type { BlockCipher, BlockCipherAlgorithm } from '../types.js';
import { checkBlocks, checkKeySize, le32, putLe32, wipedError } from './common.js';

export const TWOFISH_KEY_SIZES = [16, 24, 32] as const;

/** The 4-bit permutations t0..t3 that build q0 and q1 (section 4.3.5). */
const Q_T: readonly (readonly (readonly number[])[])[] = [
  [
    [8, 1, 7, 13, 6, 15, 3, 2, 0, 11, 5, 9, 14, 12, 10, 4],
    [14, 12, 11, 8, 1, 2, 3, 5, 15, 4, 10, 6, 7, 0, 9, 13],
    [11, 10, 5, 14, 6, 13, 9, 0, 12, 8, 15, 3, 2, 4, 7, 1],
    [13, 7, 15, 4, 1, 2, 6, 14, 9, 11, 3, 0, 8, 5, 12, 10],
  ],
  [
    [2, 8, 11, 13, 15, 7, 6, 14, 3, 1, 9, 4, 0, 10, 12, 5],
    [1, 14, 2, 11, 4, 12, 3, 7, 6, 13, 10, 5, 15, 9, 0, 8],
    [4, 12, 7, 5, 1, 6, 9, 10, 0, 14, 13, 8, 2, 11, 3, 15],
    [11, 9, 5, 1, 12, 3, 13, 14, 6, 4, 7, 15, 2, 0, 8, 10],
  ],
];

function ror4(x: number): number {
  return ((x >>> 1) | (x << 3)) & 15;
}

/** q0 or q1 on one byte (section 4.3.5). */
function qPerm(t: readonly (readonly number[])[], x: number): number {
  const a0 = x >>> 4;
  const b0 = x & 15;
  const a1 = a0 ^ b0;
  const b1 = (a0 ^ ror4(b0) ^ (8 * a0)) & 15;
  const a2 = t[0]![a1]!;
  const b2 = t[1]![b1]!;
  const a3 = a2 ^ b2;
  const b3 = (a2 ^ ror4(b2) ^ (8 * a2)) & 15;
  const a4 = t[2]![a3]!;
  const b4 = t[3]![b3]!;
  return (b4 << 4) | a4;
}

export const Q0 = Uint8Array.from({ length: 256 }, (_, x) => qPerm(Q_T[0]!, x));
export const Q1 = Uint8Array.from({ length: 256 }, (_, x) => qPerm(Q_T[1]!, x));

/** Multiplication in GF(2^8) modulo the given primitive polynomial (with its x^8 term). */
function gfMul(a: number, b: number, poly: number): number {
  let r = 0;
  while (b) {
    if (b & 1) r ^= a;
    a <<= 1;
    if (a & 0x100) a ^= poly;
    b >>>= 1;
  }
  return r;
}

/** MDS matrix (section 4.2), over GF(2^8) with x^8+x^6+x^5+x^3+1. */
const MDS = [
  [0x01, 0xef, 0x5b, 0x5b],
  [0x5b, 0xef, 0xef, 0x01],
  [0xef, 0x5b, 0x01, 0xef],
  [0xef, 0x01, 0xef, 0x5b],
] as const;
const MDS_POLY = 0x169;

/** RS matrix (section 4.3), over GF(2^8) with x^8+x^6+x^3+x^2+1. */
const RS = [
  [0x01, 0xa4, 0x55, 0x87, 0x5a, 0x58, 0xdb, 0x9e],
  [0xa4, 0x56, 0x82, 0xf3, 0x1e, 0xc6, 0x68, 0xe5],
  [0x02, 0xa1, 0xfc, 0xc1, 0x47, 0xae, 0x3d, 0x19],
  [0xa4, 0x55, 0x87, 0x5a, 0x58, 0xdb, 0x9e, 0x03],
] as const;
const RS_POLY = 0x14d;

/** MDS column j times byte y, as a little-endian word (z0 in the low byte). */
function mdsColumn(j: number, y: number): number {
  return (
    gfMul(MDS[0][j]!, y, MDS_POLY) |
    (gfMul(MDS[1][j]!, y, MDS_POLY) << 8) |
    (gfMul(MDS[2][j]!, y, MDS_POLY) << 16) |
    (gfMul(MDS[3][j]!, y, MDS_POLY) << 24)
  );
}

/**
 * The byte path of h (section 4.3.2, figure 2) for input byte x at position j with key words
 * l[0..k-1] (k = 2, 3 or 4): the q-box chain before the MDS multiply.
 */
function hByte(j: number, x: number, l: readonly number[]): number {
  const k = l.length;
  const lb = (i: number): number => (l[i]! >>> (8 * j)) & 0xff;
  let y = x;
  // Stage order per byte position: [k=4 stage, k>=3 stage, then the two common stages, outermost last].
  const Q4 = [Q1, Q0, Q0, Q1];
  const Q3 = [Q1, Q1, Q0, Q0];
  const QA = [Q0, Q1, Q0, Q1];
  const QB = [Q0, Q0, Q1, Q1];
  const QC = [Q1, Q0, Q1, Q0];
  if (k === 4) y = Q4[j]![y]! ^ lb(3);
  if (k >= 3) y = Q3[j]![y]! ^ lb(2);
  y = QA[j]![y]! ^ lb(1);
  y = QB[j]![y]! ^ lb(0);
  return QC[j]![y]!;
}

/** h(X, L) (section 4.3.2). */
function h(x: number, l: readonly number[]): number {
  let z = 0;
  for (let j = 0; j < 4; j++) z ^= mdsColumn(j, hByte(j, (x >>> (8 * j)) & 0xff, l));
  return z;
}

const RHO = 0x01010101;

interface TwofishKey {
  /** K0..K39 (section 4.3.3). */
  readonly k: Int32Array;
  /** g folded into four tables: g(X) = s0[x0] ^ s1[x1] ^ s2[x2] ^ s3[x3]. */
  readonly s: Int32Array;
}

/** Key schedule (section 4.3). */
export function twofishSchedule(key: Uint8Array): TwofishKey {
  const n = key.length / 8; // 64-bit units: 2, 3 or 4
  const me: number[] = [];
  const mo: number[] = [];
  for (let i = 0; i < n; i++) {
    me.push(le32(key, 8 * i));
    mo.push(le32(key, 8 * i + 4));
  }
  // S vector: RS times each 8-byte group, used in reverse order (S_{k-1}, ..., S_0).
  const sv: number[] = [];
  for (let i = 0; i < n; i++) {
    let w = 0;
    for (let r = 0; r < 4; r++) {
      let v = 0;
      for (let c = 0; c < 8; c++) v ^= gfMul(RS[r]![c]!, key[8 * i + c]!, RS_POLY);
      w |= v << (8 * r);
    }
    sv.unshift(w);
  }
  const k = new Int32Array(40);
  for (let i = 0; i < 20; i++) {
    const a = h(Math.imul(2 * i, RHO), me);
    let b = h(Math.imul(2 * i + 1, RHO), mo);
    b = (b << 8) | (b >>> 24);
    k[2 * i] = (a + b) | 0;
    const t = (a + 2 * b) | 0;
    k[2 * i + 1] = (t << 9) | (t >>> 23);
  }
  const s = new Int32Array(1024);
  for (let j = 0; j < 4; j++) {
    for (let x = 0; x < 256; x++) s[256 * j + x] = mdsColumn(j, hByte(j, x, sv));
  }
  return { k, s };
}

class Twofish implements BlockCipher {
  readonly blockSize = 16;
  #key: TwofishKey | undefined;

  constructor(key: Uint8Array) {
    this.#key = twofishSchedule(key);
  }

  encryptBlocks(src: Uint8Array, dst: Uint8Array): void {
    const key = this.#key;
    if (!key) throw wipedError('twofish');
    checkBlocks('twofish', 16, src, dst);
    const { k, s } = key;
    for (let o = 0; o < src.length; o += 16) {
      // Input whitening (section 4.1).
      let r0 = le32(src, o) ^ k[0]!;
      let r1 = le32(src, o + 4) ^ k[1]!;
      let r2 = le32(src, o + 8) ^ k[2]!;
      let r3 = le32(src, o + 12) ^ k[3]!;
      // 16 rounds, two per iteration so the halves swap back without moves.
      for (let r = 8; r < 40; r += 4) {
        let t0 = s[r0 & 0xff]! ^ s[256 + ((r0 >>> 8) & 0xff)]! ^ s[512 + ((r0 >>> 16) & 0xff)]! ^ s[768 + (r0 >>> 24)]!;
        let t1 = s[r1 >>> 24]! ^ s[256 + (r1 & 0xff)]! ^ s[512 + ((r1 >>> 8) & 0xff)]! ^ s[768 + ((r1 >>> 16) & 0xff)]!;
        r2 ^= (t0 + t1 + k[r]!) | 0;
        r2 = (r2 >>> 1) | (r2 << 31);
        r3 = ((r3 << 1) | (r3 >>> 31)) ^ ((t0 + 2 * t1 + k[r + 1]!) | 0);
        t0 = s[r2 & 0xff]! ^ s[256 + ((r2 >>> 8) & 0xff)]! ^ s[512 + ((r2 >>> 16) & 0xff)]! ^ s[768 + (r2 >>> 24)]!;
        t1 = s[r3 >>> 24]! ^ s[256 + (r3 & 0xff)]! ^ s[512 + ((r3 >>> 8) & 0xff)]! ^ s[768 + ((r3 >>> 16) & 0xff)]!;
        r0 ^= (t0 + t1 + k[r + 2]!) | 0;
        r0 = (r0 >>> 1) | (r0 << 31);
        r1 = ((r1 << 1) | (r1 >>> 31)) ^ ((t0 + 2 * t1 + k[r + 3]!) | 0);
      }
      // Undo the last swap and whiten the output.
      putLe32(dst, o, r2 ^ k[4]!);
      putLe32(dst, o + 4, r3 ^ k[5]!);
      putLe32(dst, o + 8, r0 ^ k[6]!);
      putLe32(dst, o + 12, r1 ^ k[7]!);
    }
  }

  decryptBlocks(src: Uint8Array, dst: Uint8Array): void {
    const key = this.#key;
    if (!key) throw wipedError('twofish');
    checkBlocks('twofish', 16, src, dst);
    const { k, s } = key;
    for (let o = 0; o < src.length; o += 16) {
      let r2 = le32(src, o) ^ k[4]!;
      let r3 = le32(src, o + 4) ^ k[5]!;
      let r0 = le32(src, o + 8) ^ k[6]!;
      let r1 = le32(src, o + 12) ^ k[7]!;
      for (let r = 36; r >= 8; r -= 4) {
        let t0 = s[r2 & 0xff]! ^ s[256 + ((r2 >>> 8) & 0xff)]! ^ s[512 + ((r2 >>> 16) & 0xff)]! ^ s[768 + (r2 >>> 24)]!;
        let t1 = s[r3 >>> 24]! ^ s[256 + (r3 & 0xff)]! ^ s[512 + ((r3 >>> 8) & 0xff)]! ^ s[768 + ((r3 >>> 16) & 0xff)]!;
        r0 = ((r0 << 1) | (r0 >>> 31)) ^ ((t0 + t1 + k[r + 2]!) | 0);
        r1 ^= (t0 + 2 * t1 + k[r + 3]!) | 0;
        r1 = (r1 >>> 1) | (r1 << 31);
        t0 = s[r0 & 0xff]! ^ s[256 + ((r0 >>> 8) & 0xff)]! ^ s[512 + ((r0 >>> 16) & 0xff)]! ^ s[768 + (r0 >>> 24)]!;
        t1 = s[r1 >>> 24]! ^ s[256 + (r1 & 0xff)]! ^ s[512 + ((r1 >>> 8) & 0xff)]! ^ s[768 + ((r1 >>> 16) & 0xff)]!;
        r2 = ((r2 << 1) | (r2 >>> 31)) ^ ((t0 + t1 + k[r]!) | 0);
        r3 ^= (t0 + 2 * t1 + k[r + 1]!) | 0;
        r3 = (r3 >>> 1) | (r3 << 31);
      }
      putLe32(dst, o, r0 ^ k[0]!);
      putLe32(dst, o + 4, r1 ^ k[1]!);
      putLe32(dst, o + 8, r2 ^ k[2]!);
      putLe32(dst, o + 12, r3 ^ k[3]!);
    }
  }

  wipe(): void {
    this.#key?.k.fill(0);
    this.#key?.s.fill(0);
    this.#key = undefined;
  }
}

export const twofish: BlockCipherAlgorithm = {
  name: 'twofish',
  blockSize: 16,
  keySizes: TWOFISH_KEY_SIZES,
  create(key: Uint8Array): BlockCipher {
    checkKeySize('twofish', TWOFISH_KEY_SIZES, key);
    return new Twofish(key);
  },
};
