// NH and NHPoly1305, the ε-almost-∆-universal hash of Adiantum's bulk (paper section 6.4,
// kernel crypto/nhpoly1305.c and include/crypto/nhpoly1305.h):
//
//   H_L = Poly1305_{K_L}( NH_{K_N}(M_1) || NH_{K_N}(M_2) || ... )   M = pad_16(L) in 1024-byte chunks
//
// NH parameters (the kernel's): 32-bit little-endian words, stride 2, 4 passes (Toeplitz shifts of
// 4 key words), 1024-byte messages (the last chunk is shorter, a multiple of 16 after zero padding):
//
//   NH_p(M) = sum over 16-byte units u of (m0 + k[4u+4p]) * (m2 + k[4u+4p+2])
//                                      + (m1 + k[4u+4p+1]) * (m3 + k[4u+4p+3])      (mod 2^64)
//
// with the additions mod 2^32. Each chunk's four 64-bit sums (32 bytes, little-endian) are two
// Poly1305 blocks with the 2^128 bit set; the digest is the Poly1305 core output without s.
//
// 32x32->64 products in doubles: a*b = a*b_lo + 2^16 * a*b_hi with b_lo, b_hi < 2^16, each partial
// product below 2^48. Thirty-two of them stay below 2^53, so the two partial sums of each pass are
// exact over 16 units and are folded into a (lo32, hi32) pair every 16 units.

import { Poly1305Key, Poly1305State } from './poly1305.js';

export const NH_MESSAGE_UNIT = 16;
export const NH_NUM_PASSES = 4;
export const NH_MESSAGE_BYTES = 1024;
/** 256 message words plus 4 * (passes - 1) words for the Toeplitz shifts. */
export const NH_KEY_WORDS = NH_MESSAGE_BYTES / 4 + 4 * (NH_NUM_PASSES - 1);
export const NH_KEY_BYTES = NH_KEY_WORDS * 4;
/** Poly1305 r (16 bytes) || NH key (1072 bytes), as crypto_nhpoly1305_setkey takes it. */
export const NHPOLY1305_KEY_SIZE = 16 + NH_KEY_BYTES;

const TWO32 = 4294967296;
const UNITS_PER_CHUNK = NH_MESSAGE_BYTES / NH_MESSAGE_UNIT;
/** Units between folds of the partial sums (32 partial products < 2^48 each stay below 2^53). */
const FOLD_UNITS = 16;

function rd32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/** Adds `lo + 2^16 * hi` (both exact integers below 2^53) into the 64-bit pair acc[2p], acc[2p+1]. */
function fold(acc: Float64Array, p: number, lo: number, hi: number): void {
  const loHigh = Math.floor(lo / TWO32);
  const loLow = lo - loHigh * TWO32;
  const hiHigh = Math.floor(hi / 65536);
  const hiLow = hi - hiHigh * 65536;
  const t = acc[2 * p]! + loLow + hiLow * 65536; // < 3 * 2^32
  const tLow = t % TWO32;
  acc[2 * p] = tLow;
  acc[2 * p + 1] = (acc[2 * p + 1]! + loHigh + hiHigh + (t - tLow) / TWO32) % TWO32;
}

/**
 * NH over `nunits` 16-byte units of `w` starting at word `off`, with key words from `koff`,
 * accumulated into acc (four 64-bit sums as (lo32, hi32) pairs).
 */
function nhUnits(key: Uint32Array, koff: number, w: Uint32Array, off: number, nunits: number, acc: Float64Array): void {
  let u = 0;
  while (u < nunits) {
    const end = Math.min(nunits, u + FOLD_UNITS);
    let l0 = 0, h0 = 0, l1 = 0, h1 = 0, l2 = 0, h2 = 0, l3 = 0, h3 = 0;
    for (; u < end; u++) {
      const o = off + 4 * u;
      const k = koff + 4 * u;
      const m0 = w[o]!, m1 = w[o + 1]!, m2 = w[o + 2]!, m3 = w[o + 3]!;
      let a: number, b: number;
      // Pass 0: key words k..k+3
      a = (m0 + key[k]!) >>> 0; b = (m2 + key[k + 2]!) >>> 0;
      l0 += a * (b & 0xffff); h0 += a * (b >>> 16);
      a = (m1 + key[k + 1]!) >>> 0; b = (m3 + key[k + 3]!) >>> 0;
      l0 += a * (b & 0xffff); h0 += a * (b >>> 16);
      // Pass 1: key words k+4..k+7
      a = (m0 + key[k + 4]!) >>> 0; b = (m2 + key[k + 6]!) >>> 0;
      l1 += a * (b & 0xffff); h1 += a * (b >>> 16);
      a = (m1 + key[k + 5]!) >>> 0; b = (m3 + key[k + 7]!) >>> 0;
      l1 += a * (b & 0xffff); h1 += a * (b >>> 16);
      // Pass 2: key words k+8..k+11
      a = (m0 + key[k + 8]!) >>> 0; b = (m2 + key[k + 10]!) >>> 0;
      l2 += a * (b & 0xffff); h2 += a * (b >>> 16);
      a = (m1 + key[k + 9]!) >>> 0; b = (m3 + key[k + 11]!) >>> 0;
      l2 += a * (b & 0xffff); h2 += a * (b >>> 16);
      // Pass 3: key words k+12..k+15
      a = (m0 + key[k + 12]!) >>> 0; b = (m2 + key[k + 14]!) >>> 0;
      l3 += a * (b & 0xffff); h3 += a * (b >>> 16);
      a = (m1 + key[k + 13]!) >>> 0; b = (m3 + key[k + 15]!) >>> 0;
      l3 += a * (b & 0xffff); h3 += a * (b >>> 16);
    }
    fold(acc, 0, l0, h0);
    fold(acc, 1, l1, h1);
    fold(acc, 2, l2, h2);
    fold(acc, 3, l3, h3);
  }
}

/** NHPoly1305 with an expanded key; reusable, no allocation per call. Not reentrant. */
export class NhPoly1305 {
  private readonly polyKey: Poly1305Key;
  private readonly nhKey = new Uint32Array(NH_KEY_WORDS);
  private readonly state = new Poly1305State();
  private readonly acc = new Float64Array(8);
  private readonly tail = new Uint32Array(4);

  /** `key`: NHPOLY1305_KEY_SIZE bytes at `offset` (kernel crypto_nhpoly1305_setkey). */
  constructor(key: Uint8Array, offset = 0) {
    if (key.length - offset < NHPOLY1305_KEY_SIZE) throw new RangeError(`NHPoly1305 key must be ${NHPOLY1305_KEY_SIZE} bytes`);
    this.polyKey = new Poly1305Key(key, offset);
    for (let i = 0; i < NH_KEY_WORDS; i++) this.nhKey[i] = rd32(key, offset + 16 + 4 * i);
  }

  /**
   * Digest of the `len` bytes held as little-endian words in `w` from word `off`. Bytes past
   * `len` in the last word(s) are ignored (treated as the zero padding), so the view may extend
   * beyond the message. Writes 4 digest words into out[outOff..outOff+4].
   */
  hashWords(w: Uint32Array, off: number, len: number, out: Uint32Array, outOff: number): void {
    const st = this.state, acc = this.acc, key = this.nhKey, pk = this.polyKey;
    st.init();
    const fullUnits = len >>> 4;
    const rest = len & 15;
    const totalUnits = fullUnits + (rest ? 1 : 0);
    if (rest) {
      // Zero-pad the last unit (kernel crypto_nhpoly1305_final_helper).
      const t = this.tail;
      const base = off + 4 * fullUnits;
      for (let i = 0; i < 4; i++) {
        const valid = rest - 4 * i;
        t[i] = valid >= 4 ? w[base + i]! : valid > 0 ? w[base + i]! & (0xffffffff >>> (32 - 8 * valid)) : 0;
      }
    }
    for (let u = 0; u < totalUnits; u += UNITS_PER_CHUNK) {
      const chunkUnits = Math.min(UNITS_PER_CHUNK, totalUnits - u);
      acc.fill(0);
      const full = Math.min(chunkUnits, fullUnits - u);
      nhUnits(key, 0, w, off + 4 * u, full, acc);
      if (full < chunkUnits) nhUnits(key, 4 * full, this.tail, 0, 1, acc);
      // The NH hash (4 x le64) is two Poly1305 blocks with the 2^128 bit (process_nh_hash_value).
      st.blockWords(pk, acc[0]!, acc[1]!, acc[2]!, acc[3]!, 1);
      st.blockWords(pk, acc[4]!, acc[5]!, acc[6]!, acc[7]!, 1);
    }
    st.emitWords(out, outOff);
  }

  /** Digest of a byte message (reference path for test vectors). */
  digest(msg: Uint8Array): Uint8Array {
    const words = new Uint32Array(Math.ceil(msg.length / 16) * 4);
    for (let i = 0; i < msg.length; i++) words[i >>> 2] = words[i >>> 2]! | (msg[i]! << (8 * (i & 3)));
    const d = new Uint32Array(4);
    this.hashWords(words, 0, msg.length, d, 0);
    const out = new Uint8Array(16);
    for (let i = 0; i < 16; i++) out[i] = (d[i >>> 2]! >>> (8 * (i & 3))) & 0xff;
    return out;
  }

  wipe(): void {
    this.polyKey.wipe();
    this.nhKey.fill(0);
    this.state.wipe();
    this.acc.fill(0);
    this.tail.fill(0);
  }
}
