// Serpent (Anderson, Biham, Knudsen, "Serpent: A Proposal for the AES", 1998), in the bitslice
// form and byte order of the Linux kernel (crypto/serpent_generic.c): blocks and keys are read
// as little-endian 32-bit words, so the kernel's ciphertexts are the NESSIE ones byte-reversed
// (the kernel's `tnepres` is the NESSIE order). Keys of 0..32 bytes are accepted; a short key is
// padded with a single 1 bit then zeros (spec section 2.4), i.e. the byte 0x01 after the key.
//
// The S-boxes are evaluated bitsliced, 32 nibbles at a time, as the algebraic normal form of each
// output bit: the XOR of the input-bit products whose Moebius-transform coefficient is 1, computed
// from the spec's S-box tables (SBOX below). The tests run this cipher against serpentReference,
// which applies the tables bit by bit, on random keys and blocks.

import type { BlockCipher, BlockCipherAlgorithm } from '../types.js';
import { checkBlocks, checkKeySize, le32, putLe32, sizeRange, wipedError } from './common.js';

export const SERPENT_KEY_SIZES: readonly number[] = sizeRange(0, 32);

/** S0..S7 from the spec (section 2.2 / Appendix); SBOX[i][x] for the nibble x = a | b<<1 | c<<2 | d<<3. */
export const SBOX: readonly (readonly number[])[] = [
  [3, 8, 15, 1, 10, 6, 5, 11, 14, 13, 4, 2, 7, 0, 9, 12],
  [15, 12, 2, 7, 9, 0, 5, 10, 1, 11, 14, 8, 6, 13, 3, 4],
  [8, 6, 7, 9, 3, 12, 10, 15, 13, 1, 14, 4, 0, 11, 5, 2],
  [0, 15, 11, 8, 12, 9, 6, 3, 13, 1, 2, 4, 10, 7, 5, 14],
  [1, 15, 8, 3, 12, 0, 11, 6, 2, 5, 4, 10, 9, 14, 7, 13],
  [15, 5, 2, 11, 4, 10, 9, 12, 0, 3, 14, 8, 13, 6, 7, 1],
  [7, 2, 12, 5, 8, 4, 6, 11, 14, 9, 1, 15, 13, 3, 10, 0],
  [1, 13, 15, 0, 14, 8, 2, 11, 7, 4, 12, 10, 9, 3, 5, 6],
];

const PHI = 0x9e3779b9 | 0;

/**
 * Applies a 4-bit S-box table bitsliced to the words (a, b, c, d), one bit position at a time:
 * the slow, obviously-correct form, used by the key schedule (33 calls per key) and the tests.
 */
export function sboxTable(table: readonly number[], a: number, b: number, c: number, d: number, out: Int32Array): void {
  let y0 = 0;
  let y1 = 0;
  let y2 = 0;
  let y3 = 0;
  for (let j = 0; j < 32; j++) {
    const x = ((a >>> j) & 1) | (((b >>> j) & 1) << 1) | (((c >>> j) & 1) << 2) | (((d >>> j) & 1) << 3);
    const y = table[x]!;
    y0 |= (y & 1) << j;
    y1 |= ((y >>> 1) & 1) << j;
    y2 |= ((y >>> 2) & 1) << j;
    y3 |= ((y >>> 3) & 1) << j;
  }
  out[0] = y0;
  out[1] = y1;
  out[2] = y2;
  out[3] = y3;
}

/** Key schedule (spec section 2.4): 33 round keys of four words, K_n = S_{(3-n) mod 8}(w_4n..w_4n+3). */
export function serpentSchedule(key: Uint8Array): Int32Array {
  const padded = new Uint8Array(32);
  padded.set(key);
  if (key.length < 32) padded[key.length] = 1;
  const w = new Int32Array(140);
  for (let i = 0; i < 8; i++) w[i] = le32(padded, 4 * i);
  for (let i = 0; i < 132; i++) {
    const t = w[i]! ^ w[i + 3]! ^ w[i + 5]! ^ w[i + 7]! ^ PHI ^ i;
    w[i + 8] = (t << 11) | (t >>> 21);
  }
  const k = new Int32Array(132);
  const out = new Int32Array(4);
  for (let n = 0; n < 33; n++) {
    const o = 8 + 4 * n;
    sboxTable(SBOX[(((3 - n) % 8) + 8) % 8]!, w[o]!, w[o + 1]!, w[o + 2]!, w[o + 3]!, out);
    k.set(out, 4 * n);
  }
  padded.fill(0);
  w.fill(0);
  return k;
}

/** Encrypts the four little-endian words in s with the 132 round-key words k (bitslice form). */
function encryptCore(k: Int32Array, s: Int32Array): void {
  let a = s[0]!, b = s[1]!, c = s[2]!, d = s[3]!;
  let y0: number, y1: number, y2: number, y3: number;
  // Eight rounds per pass (one per S-box); r is the word offset of the pass's first round key.
  for (let r = 0; r < 128; r += 32) {
    // round r/4 + 0: key mixing, S0, then LT (the last round mixes K32 instead)
    a ^= k[r]!; b ^= k[r + 1]!; c ^= k[r + 2]!; d ^= k[r + 3]!;
    {
      const ab = a & b;
      const ac = a & c;
      const bc = b & c;
      const ad = a & d;
      const bd = b & d;
      const abc = ab & c;
      const acd = ac & d;
      const bcd = bc & d;
      y0 = ~(a ^ ab ^ c ^ ac ^ bc ^ abc ^ d ^ acd ^ bcd);
      y1 = ~(a ^ ac ^ bc ^ abc ^ bd ^ acd ^ bcd);
      y2 = b ^ ab ^ ac ^ abc ^ d ^ bd ^ bcd;
      y3 = a ^ b ^ c ^ d ^ ad;
    }
    a = y0; b = y1; c = y2; d = y3;
    a = (a << 13) | (a >>> 19);
    c = (c << 3) | (c >>> 29);
    b ^= a ^ c;
    d ^= c ^ (a << 3);
    b = (b << 1) | (b >>> 31);
    d = (d << 7) | (d >>> 25);
    a ^= b ^ d;
    c ^= d ^ (b << 7);
    a = (a << 5) | (a >>> 27);
    c = (c << 22) | (c >>> 10);
    // round r/4 + 1: key mixing, S1, then LT (the last round mixes K32 instead)
    a ^= k[r + 4]!; b ^= k[r + 5]!; c ^= k[r + 6]!; d ^= k[r + 7]!;
    {
      const ab = a & b;
      const ac = a & c;
      const bc = b & c;
      const ad = a & d;
      const bd = b & d;
      const cd = c & d;
      const abd = ab & d;
      const acd = ac & d;
      const bcd = bc & d;
      y0 = ~(a ^ b ^ bc ^ ad ^ cd ^ acd ^ bcd);
      y1 = ~(a ^ ab ^ c ^ ac ^ d ^ bd ^ abd ^ acd ^ bcd);
      y2 = ~(b ^ ab ^ c ^ d);
      y3 = ~(b ^ ac ^ d ^ ad ^ abd ^ acd ^ bcd);
    }
    a = y0; b = y1; c = y2; d = y3;
    a = (a << 13) | (a >>> 19);
    c = (c << 3) | (c >>> 29);
    b ^= a ^ c;
    d ^= c ^ (a << 3);
    b = (b << 1) | (b >>> 31);
    d = (d << 7) | (d >>> 25);
    a ^= b ^ d;
    c ^= d ^ (b << 7);
    a = (a << 5) | (a >>> 27);
    c = (c << 22) | (c >>> 10);
    // round r/4 + 2: key mixing, S2, then LT (the last round mixes K32 instead)
    a ^= k[r + 8]!; b ^= k[r + 9]!; c ^= k[r + 10]!; d ^= k[r + 11]!;
    {
      const ab = a & b;
      const ac = a & c;
      const bc = b & c;
      const ad = a & d;
      const bd = b & d;
      const cd = c & d;
      const abc = ab & c;
      const abd = ab & d;
      const acd = ac & d;
      y0 = b ^ c ^ ac ^ d;
      y1 = a ^ b ^ c ^ bc ^ abc ^ ad ^ abd ^ cd ^ acd;
      y2 = a ^ b ^ bc ^ d ^ bd ^ abd ^ cd ^ acd;
      y3 = ~(a ^ b ^ c ^ abc ^ bd);
    }
    a = y0; b = y1; c = y2; d = y3;
    a = (a << 13) | (a >>> 19);
    c = (c << 3) | (c >>> 29);
    b ^= a ^ c;
    d ^= c ^ (a << 3);
    b = (b << 1) | (b >>> 31);
    d = (d << 7) | (d >>> 25);
    a ^= b ^ d;
    c ^= d ^ (b << 7);
    a = (a << 5) | (a >>> 27);
    c = (c << 22) | (c >>> 10);
    // round r/4 + 3: key mixing, S3, then LT (the last round mixes K32 instead)
    a ^= k[r + 12]!; b ^= k[r + 13]!; c ^= k[r + 14]!; d ^= k[r + 15]!;
    {
      const ab = a & b;
      const ac = a & c;
      const bc = b & c;
      const ad = a & d;
      const bd = b & d;
      const cd = c & d;
      const abc = ab & c;
      const abd = ab & d;
      const acd = ac & d;
      const bcd = bc & d;
      y0 = a ^ b ^ bc ^ d ^ ad ^ cd ^ acd ^ bcd;
      y1 = a ^ b ^ ac ^ ad ^ abd ^ cd ^ acd;
      y2 = a ^ ab ^ c ^ abc ^ d ^ bd ^ abd;
      y3 = a ^ b ^ ab ^ c ^ ac ^ abc ^ d ^ cd ^ acd;
    }
    a = y0; b = y1; c = y2; d = y3;
    a = (a << 13) | (a >>> 19);
    c = (c << 3) | (c >>> 29);
    b ^= a ^ c;
    d ^= c ^ (a << 3);
    b = (b << 1) | (b >>> 31);
    d = (d << 7) | (d >>> 25);
    a ^= b ^ d;
    c ^= d ^ (b << 7);
    a = (a << 5) | (a >>> 27);
    c = (c << 22) | (c >>> 10);
    // round r/4 + 4: key mixing, S4, then LT (the last round mixes K32 instead)
    a ^= k[r + 16]!; b ^= k[r + 17]!; c ^= k[r + 18]!; d ^= k[r + 19]!;
    {
      const ab = a & b;
      const ac = a & c;
      const bc = b & c;
      const ad = a & d;
      const bd = b & d;
      const cd = c & d;
      const abc = ab & c;
      const abd = ab & d;
      const acd = ac & d;
      const bcd = bc & d;
      y0 = ~(b ^ ab ^ c ^ d ^ ad ^ bd);
      y1 = a ^ ac ^ bc ^ d ^ bd ^ cd ^ acd ^ bcd;
      y2 = a ^ ab ^ c ^ bc ^ abc ^ bd ^ abd ^ cd ^ bcd;
      y3 = a ^ b ^ c ^ bc ^ ad ^ bd ^ abd;
    }
    a = y0; b = y1; c = y2; d = y3;
    a = (a << 13) | (a >>> 19);
    c = (c << 3) | (c >>> 29);
    b ^= a ^ c;
    d ^= c ^ (a << 3);
    b = (b << 1) | (b >>> 31);
    d = (d << 7) | (d >>> 25);
    a ^= b ^ d;
    c ^= d ^ (b << 7);
    a = (a << 5) | (a >>> 27);
    c = (c << 22) | (c >>> 10);
    // round r/4 + 5: key mixing, S5, then LT (the last round mixes K32 instead)
    a ^= k[r + 20]!; b ^= k[r + 21]!; c ^= k[r + 22]!; d ^= k[r + 23]!;
    {
      const ab = a & b;
      const ac = a & c;
      const bc = b & c;
      const ad = a & d;
      const bd = b & d;
      const cd = c & d;
      const abc = ab & c;
      const abd = ab & d;
      const acd = ac & d;
      const bcd = bc & d;
      y0 = ~(b ^ ab ^ c ^ d ^ ad ^ bd);
      y1 = ~(a ^ ab ^ c ^ d ^ bd ^ abd ^ cd);
      y2 = ~(b ^ ac ^ d ^ abd ^ cd ^ acd ^ bcd);
      y3 = ~(a ^ b ^ c ^ abc ^ d ^ ad ^ acd);
    }
    a = y0; b = y1; c = y2; d = y3;
    a = (a << 13) | (a >>> 19);
    c = (c << 3) | (c >>> 29);
    b ^= a ^ c;
    d ^= c ^ (a << 3);
    b = (b << 1) | (b >>> 31);
    d = (d << 7) | (d >>> 25);
    a ^= b ^ d;
    c ^= d ^ (b << 7);
    a = (a << 5) | (a >>> 27);
    c = (c << 22) | (c >>> 10);
    // round r/4 + 6: key mixing, S6, then LT (the last round mixes K32 instead)
    a ^= k[r + 24]!; b ^= k[r + 25]!; c ^= k[r + 26]!; d ^= k[r + 27]!;
    {
      const ab = a & b;
      const ac = a & c;
      const bc = b & c;
      const ad = a & d;
      const bd = b & d;
      const cd = c & d;
      const abc = ab & c;
      const abd = ab & d;
      const bcd = bc & d;
      y0 = ~(a ^ b ^ c ^ ac ^ bc ^ abc ^ d ^ abd ^ bcd);
      y1 = ~(b ^ c ^ ad);
      y2 = ~(a ^ ab ^ c ^ bc ^ abc ^ bd ^ abd ^ cd ^ bcd);
      y3 = b ^ ab ^ c ^ ac ^ abc ^ d ^ cd ^ bcd;
    }
    a = y0; b = y1; c = y2; d = y3;
    a = (a << 13) | (a >>> 19);
    c = (c << 3) | (c >>> 29);
    b ^= a ^ c;
    d ^= c ^ (a << 3);
    b = (b << 1) | (b >>> 31);
    d = (d << 7) | (d >>> 25);
    a ^= b ^ d;
    c ^= d ^ (b << 7);
    a = (a << 5) | (a >>> 27);
    c = (c << 22) | (c >>> 10);
    // round r/4 + 7: key mixing, S7, then LT (the last round mixes K32 instead)
    a ^= k[r + 28]!; b ^= k[r + 29]!; c ^= k[r + 30]!; d ^= k[r + 31]!;
    {
      const ab = a & b;
      const ac = a & c;
      const bc = b & c;
      const ad = a & d;
      const bd = b & d;
      const cd = c & d;
      const abc = ab & c;
      const abd = ab & d;
      const acd = ac & d;
      const bcd = bc & d;
      y0 = ~(ab ^ c ^ ad ^ bd ^ cd ^ acd ^ bcd);
      y1 = b ^ ab ^ c ^ ac ^ bc ^ d ^ ad ^ abd ^ acd;
      y2 = a ^ b ^ c ^ abc ^ d ^ ad ^ bd ^ abd ^ bcd;
      y3 = a ^ b ^ c ^ ac ^ abc ^ ad;
    }
    a = y0; b = y1; c = y2; d = y3;
    if (r === 96) {
      a ^= k[128]!; b ^= k[129]!; c ^= k[130]!; d ^= k[131]!;
    } else {
      a = (a << 13) | (a >>> 19);
      c = (c << 3) | (c >>> 29);
      b ^= a ^ c;
      d ^= c ^ (a << 3);
      b = (b << 1) | (b >>> 31);
      d = (d << 7) | (d >>> 25);
      a ^= b ^ d;
      c ^= d ^ (b << 7);
      a = (a << 5) | (a >>> 27);
      c = (c << 22) | (c >>> 10);
    }
  }
  s[0] = a; s[1] = b; s[2] = c; s[3] = d;
}

/** Inverse of encryptCore. */
function decryptCore(k: Int32Array, s: Int32Array): void {
  let a = s[0]! ^ k[128]!, b = s[1]! ^ k[129]!, c = s[2]! ^ k[130]!, d = s[3]! ^ k[131]!;
  let y0: number, y1: number, y2: number, y3: number;
  for (let r = 96; r >= 0; r -= 32) {
    // round r/4 + 7: inverse LT (not before the last round), inverse S7, key mixing
    if (r !== 96) {
      c = (c >>> 22) | (c << 10);
      a = (a >>> 5) | (a << 27);
      c ^= d ^ (b << 7);
      a ^= b ^ d;
      d = (d >>> 7) | (d << 25);
      b = (b >>> 1) | (b << 31);
      d ^= c ^ (a << 3);
      b ^= a ^ c;
      c = (c >>> 3) | (c << 29);
      a = (a >>> 13) | (a << 19);
    }
    {
      const ab = a & b;
      const ac = a & c;
      const bc = b & c;
      const ad = a & d;
      const bd = b & d;
      const cd = c & d;
      const abc = ab & c;
      const abd = ab & d;
      const acd = ac & d;
      const bcd = bc & d;
      y0 = ~(a ^ b ^ bc ^ bd ^ abd ^ cd ^ bcd);
      y1 = ~(a ^ c ^ bc ^ d ^ ad ^ bd ^ acd ^ bcd);
      y2 = b ^ ac ^ d ^ abd ^ cd ^ acd;
      y3 = ab ^ c ^ abc ^ ad ^ bd ^ abd;
    }
    a = y0; b = y1; c = y2; d = y3;
    a ^= k[r + 28]!; b ^= k[r + 29]!; c ^= k[r + 30]!; d ^= k[r + 31]!;
    // round r/4 + 6: inverse LT (not before the last round), inverse S6, key mixing
    c = (c >>> 22) | (c << 10);
    a = (a >>> 5) | (a << 27);
    c ^= d ^ (b << 7);
    a ^= b ^ d;
    d = (d >>> 7) | (d << 25);
    b = (b >>> 1) | (b << 31);
    d ^= c ^ (a << 3);
    b ^= a ^ c;
    c = (c >>> 3) | (c << 29);
    a = (a >>> 13) | (a << 19);
    {
      const ab = a & b;
      const ac = a & c;
      const bc = b & c;
      const ad = a & d;
      const bd = b & d;
      const cd = c & d;
      const abc = ab & c;
      const abd = ab & d;
      const bcd = bc & d;
      y0 = ~(a ^ ab ^ ac ^ bc ^ abc ^ d ^ abd ^ bcd);
      y1 = ~(b ^ c ^ ac ^ d);
      y2 = ~(a ^ b ^ bc ^ bd ^ abd ^ cd ^ bcd);
      y3 = ~(b ^ ab ^ c ^ bc ^ abc ^ d ^ ad ^ abd ^ cd ^ bcd);
    }
    a = y0; b = y1; c = y2; d = y3;
    a ^= k[r + 24]!; b ^= k[r + 25]!; c ^= k[r + 26]!; d ^= k[r + 27]!;
    // round r/4 + 5: inverse LT (not before the last round), inverse S5, key mixing
    c = (c >>> 22) | (c << 10);
    a = (a >>> 5) | (a << 27);
    c ^= d ^ (b << 7);
    a ^= b ^ d;
    d = (d >>> 7) | (d << 25);
    b = (b >>> 1) | (b << 31);
    d ^= c ^ (a << 3);
    b ^= a ^ c;
    c = (c >>> 3) | (c << 29);
    a = (a >>> 13) | (a << 19);
    {
      const ab = a & b;
      const ac = a & c;
      const bc = b & c;
      const ad = a & d;
      const bd = b & d;
      const abc = ab & c;
      const abd = ab & d;
      const acd = ac & d;
      y0 = a ^ bc ^ d ^ abd;
      y1 = a ^ b ^ ac ^ bc ^ abc ^ d ^ ad ^ abd;
      y2 = a ^ ab ^ c ^ bd ^ abd ^ acd;
      y3 = ~(b ^ ab ^ c ^ abc ^ ad);
    }
    a = y0; b = y1; c = y2; d = y3;
    a ^= k[r + 20]!; b ^= k[r + 21]!; c ^= k[r + 22]!; d ^= k[r + 23]!;
    // round r/4 + 4: inverse LT (not before the last round), inverse S4, key mixing
    c = (c >>> 22) | (c << 10);
    a = (a >>> 5) | (a << 27);
    c ^= d ^ (b << 7);
    a ^= b ^ d;
    d = (d >>> 7) | (d << 25);
    b = (b >>> 1) | (b << 31);
    d ^= c ^ (a << 3);
    b ^= a ^ c;
    c = (c >>> 3) | (c << 29);
    a = (a >>> 13) | (a << 19);
    {
      const ab = a & b;
      const ac = a & c;
      const ad = a & d;
      const bd = b & d;
      const cd = c & d;
      const abc = ab & c;
      const abd = ab & d;
      const acd = ac & d;
      y0 = ~(a ^ b ^ c ^ d ^ ad ^ abd ^ cd ^ acd);
      y1 = ab ^ c ^ ac ^ d ^ ad ^ acd;
      y2 = ~(a ^ b ^ ab ^ c ^ ac ^ abc ^ d ^ bd ^ abd);
      y3 = b ^ ab ^ c ^ ad ^ abd ^ cd;
    }
    a = y0; b = y1; c = y2; d = y3;
    a ^= k[r + 16]!; b ^= k[r + 17]!; c ^= k[r + 18]!; d ^= k[r + 19]!;
    // round r/4 + 3: inverse LT (not before the last round), inverse S3, key mixing
    c = (c >>> 22) | (c << 10);
    a = (a >>> 5) | (a << 27);
    c ^= d ^ (b << 7);
    a ^= b ^ d;
    d = (d >>> 7) | (d << 25);
    b = (b >>> 1) | (b << 31);
    d ^= c ^ (a << 3);
    b ^= a ^ c;
    c = (c >>> 3) | (c << 29);
    a = (a >>> 13) | (a << 19);
    {
      const ab = a & b;
      const ac = a & c;
      const bc = b & c;
      const ad = a & d;
      const bd = b & d;
      const cd = c & d;
      const abc = ab & c;
      const abd = ab & d;
      const acd = ac & d;
      const bcd = bc & d;
      y0 = a ^ c ^ bc ^ d ^ ad ^ bd ^ bcd;
      y1 = b ^ c ^ bc ^ abc ^ d ^ ad ^ acd ^ bcd;
      y2 = ab ^ ac ^ bc ^ ad ^ bd ^ abd ^ cd ^ acd;
      y3 = a ^ b ^ c ^ ac ^ abc ^ ad ^ abd ^ cd;
    }
    a = y0; b = y1; c = y2; d = y3;
    a ^= k[r + 12]!; b ^= k[r + 13]!; c ^= k[r + 14]!; d ^= k[r + 15]!;
    // round r/4 + 2: inverse LT (not before the last round), inverse S2, key mixing
    c = (c >>> 22) | (c << 10);
    a = (a >>> 5) | (a << 27);
    c ^= d ^ (b << 7);
    a ^= b ^ d;
    d = (d >>> 7) | (d << 25);
    b = (b >>> 1) | (b << 31);
    d ^= c ^ (a << 3);
    b ^= a ^ c;
    c = (c >>> 3) | (c << 29);
    a = (a >>> 13) | (a << 19);
    {
      const ab = a & b;
      const ac = a & c;
      const bc = b & c;
      const ad = a & d;
      const bd = b & d;
      const cd = c & d;
      const abc = ab & c;
      const abd = ab & d;
      const acd = ac & d;
      y0 = a ^ b ^ c ^ bc ^ bd;
      y1 = b ^ ab ^ c ^ ad ^ abd ^ cd ^ acd;
      y2 = ~(a ^ ab ^ c ^ d ^ ad ^ bd ^ abd ^ acd);
      y3 = ~(ab ^ bc ^ abc ^ d ^ acd);
    }
    a = y0; b = y1; c = y2; d = y3;
    a ^= k[r + 8]!; b ^= k[r + 9]!; c ^= k[r + 10]!; d ^= k[r + 11]!;
    // round r/4 + 1: inverse LT (not before the last round), inverse S1, key mixing
    c = (c >>> 22) | (c << 10);
    a = (a >>> 5) | (a << 27);
    c ^= d ^ (b << 7);
    a ^= b ^ d;
    d = (d >>> 7) | (d << 25);
    b = (b >>> 1) | (b << 31);
    d ^= c ^ (a << 3);
    b ^= a ^ c;
    c = (c >>> 3) | (c << 29);
    a = (a >>> 13) | (a << 19);
    {
      const ab = a & b;
      const ac = a & c;
      const bc = b & c;
      const ad = a & d;
      const bd = b & d;
      const abc = ab & c;
      const acd = ac & d;
      const bcd = bc & d;
      y0 = ~(a ^ b ^ ab ^ abc ^ bd ^ acd ^ bcd);
      y1 = b ^ c ^ abc ^ d ^ ad ^ bd ^ acd ^ bcd;
      y2 = ~(a ^ b ^ ac ^ bc ^ abc ^ d ^ acd);
      y3 = a ^ c ^ d ^ bd;
    }
    a = y0; b = y1; c = y2; d = y3;
    a ^= k[r + 4]!; b ^= k[r + 5]!; c ^= k[r + 6]!; d ^= k[r + 7]!;
    // round r/4 + 0: inverse LT (not before the last round), inverse S0, key mixing
    c = (c >>> 22) | (c << 10);
    a = (a >>> 5) | (a << 27);
    c ^= d ^ (b << 7);
    a ^= b ^ d;
    d = (d >>> 7) | (d << 25);
    b = (b >>> 1) | (b << 31);
    d ^= c ^ (a << 3);
    b ^= a ^ c;
    c = (c >>> 3) | (c << 29);
    a = (a >>> 13) | (a << 19);
    {
      const ab = a & b;
      const ac = a & c;
      const bc = b & c;
      const ad = a & d;
      const bd = b & d;
      const cd = c & d;
      const abd = ab & d;
      const acd = ac & d;
      const bcd = bc & d;
      y0 = ~(ab ^ c ^ bc ^ ad ^ bd ^ abd ^ cd ^ acd ^ bcd);
      y1 = a ^ b ^ c ^ ac ^ bd ^ acd ^ bcd;
      y2 = ~(a ^ b ^ ab ^ c ^ d);
      y3 = ~(a ^ bc ^ d ^ abd ^ cd ^ acd ^ bcd);
    }
    a = y0; b = y1; c = y2; d = y3;
    a ^= k[r]!; b ^= k[r + 1]!; c ^= k[r + 2]!; d ^= k[r + 3]!;
  }
  s[0] = a; s[1] = b; s[2] = c; s[3] = d;
}

class Serpent implements BlockCipher {
  readonly blockSize = 16;
  #k: Int32Array | undefined;
  readonly #s = new Int32Array(4);

  constructor(key: Uint8Array) {
    this.#k = serpentSchedule(key);
  }

  encryptBlocks(src: Uint8Array, dst: Uint8Array): void {
    this.#run(src, dst, encryptCore);
  }

  decryptBlocks(src: Uint8Array, dst: Uint8Array): void {
    this.#run(src, dst, decryptCore);
  }

  #run(src: Uint8Array, dst: Uint8Array, core: (k: Int32Array, s: Int32Array) => void): void {
    const k = this.#k;
    if (!k) throw wipedError('serpent');
    checkBlocks('serpent', 16, src, dst);
    const s = this.#s;
    for (let o = 0; o < src.length; o += 16) {
      s[0] = le32(src, o);
      s[1] = le32(src, o + 4);
      s[2] = le32(src, o + 8);
      s[3] = le32(src, o + 12);
      core(k, s);
      putLe32(dst, o, s[0]!);
      putLe32(dst, o + 4, s[1]!);
      putLe32(dst, o + 8, s[2]!);
      putLe32(dst, o + 12, s[3]!);
    }
    s.fill(0);
  }

  wipe(): void {
    this.#k?.fill(0);
    this.#k = undefined;
  }
}

const SBOX_INV: readonly (readonly number[])[] = SBOX.map((t) => {
  const inv = new Array<number>(16);
  t.forEach((y, x) => (inv[y] = x));
  return inv;
});

function lt(s: Int32Array): void {
  let a = s[0]!, b = s[1]!, c = s[2]!, d = s[3]!;
  a = (a << 13) | (a >>> 19);
  c = (c << 3) | (c >>> 29);
  b ^= a ^ c;
  d ^= c ^ (a << 3);
  b = (b << 1) | (b >>> 31);
  d = (d << 7) | (d >>> 25);
  a ^= b ^ d;
  c ^= d ^ (b << 7);
  a = (a << 5) | (a >>> 27);
  c = (c << 22) | (c >>> 10);
  s[0] = a; s[1] = b; s[2] = c; s[3] = d;
}

function ltInverse(s: Int32Array): void {
  let a = s[0]!, b = s[1]!, c = s[2]!, d = s[3]!;
  c = (c >>> 22) | (c << 10);
  a = (a >>> 5) | (a << 27);
  c ^= d ^ (b << 7);
  a ^= b ^ d;
  d = (d >>> 7) | (d << 25);
  b = (b >>> 1) | (b << 31);
  d ^= c ^ (a << 3);
  b ^= a ^ c;
  c = (c >>> 3) | (c << 29);
  a = (a >>> 13) | (a << 19);
  s[0] = a; s[1] = b; s[2] = c; s[3] = d;
}

/**
 * Reference Serpent: the same rounds with the S-boxes applied from the spec tables one bit
 * position at a time. Slow; the tests run the fast cipher against it (DESIGN.md: every suite runs
 * against every implementation).
 */
export function serpentReference(key: Uint8Array, block: Uint8Array, decrypt: boolean): Uint8Array {
  const k = serpentSchedule(key);
  const s = new Int32Array([le32(block, 0), le32(block, 4), le32(block, 8), le32(block, 12)]);
  const mix = (n: number): void => {
    for (let i = 0; i < 4; i++) s[i] = s[i]! ^ k[4 * n + i]!;
  };
  const box = (t: readonly number[]): void => sboxTable(t, s[0]!, s[1]!, s[2]!, s[3]!, s);
  if (!decrypt) {
    for (let n = 0; n < 32; n++) {
      mix(n);
      box(SBOX[n % 8]!);
      if (n < 31) lt(s);
      else mix(32);
    }
  } else {
    mix(32);
    for (let n = 31; n >= 0; n--) {
      if (n < 31) ltInverse(s);
      box(SBOX_INV[n % 8]!);
      mix(n);
    }
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 4; i++) putLe32(out, 4 * i, s[i]!);
  return out;
}

export const serpent: BlockCipherAlgorithm = {
  name: 'serpent',
  blockSize: 16,
  keySizes: SERPENT_KEY_SIZES,
  create(key: Uint8Array): BlockCipher {
    checkKeySize('serpent', SERPENT_KEY_SIZES, key);
    return new Serpent(key);
  },
};
