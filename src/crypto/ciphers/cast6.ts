// CAST-256 (RFC 2612), as crypto/cast6_generic.c: big-endian words, keys of 16..32 bytes in steps
// of 4 (zero-padded to 256 bits, RFC 2612 section 2.4), 48 rounds as 12 quad-rounds.

import type { BlockCipher, BlockCipherAlgorithm } from '../types.js';
import { be32, checkBlocks, checkKeySize, putBe32, sizeRange, wipedError } from './common.js';
import { S1, S2, S3, S4 } from './cast-sboxes.js';

export const CAST6_KEY_SIZES: readonly number[] = sizeRange(16, 32, 4);

// Round functions (RFC 2612 section 2.2; Ia is the most significant byte of I).
function f1(d: number, kr: number, km: number): number {
  let i = (km + d) | 0;
  i = (i << kr) | (i >>> (32 - kr));
  return (((S1[i >>> 24]! ^ S2[(i >>> 16) & 0xff]!) - S3[(i >>> 8) & 0xff]!) + S4[i & 0xff]!) | 0;
}

function f2(d: number, kr: number, km: number): number {
  let i = km ^ d;
  i = (i << kr) | (i >>> (32 - kr));
  return (((S1[i >>> 24]! - S2[(i >>> 16) & 0xff]!) + S3[(i >>> 8) & 0xff]!) ^ S4[i & 0xff]!) | 0;
}

function f3(d: number, kr: number, km: number): number {
  let i = (km - d) | 0;
  i = (i << kr) | (i >>> (32 - kr));
  return (((S1[i >>> 24]! + S2[(i >>> 16) & 0xff]!) ^ S3[(i >>> 8) & 0xff]!) - S4[i & 0xff]!) | 0;
}

interface Cast6Key {
  /** Km for quad-round i at 4i..4i+3. */
  readonly km: Int32Array;
  /** Kr (5-bit rotations) for quad-round i at 4i..4i+3. */
  readonly kr: Uint8Array;
}

/** Key schedule (RFC 2612 section 2.4). */
export function cast6Schedule(key: Uint8Array): Cast6Key {
  const k = new Uint8Array(32);
  k.set(key);
  const w = new Int32Array(8); // A..H
  for (let i = 0; i < 8; i++) w[i] = be32(k, 4 * i);
  k.fill(0);
  // Tm, Tr: Cm = 2^30 * sqrt(2), Mm = 2^30 * sqrt(3), Cr = 19, Mr = 17.
  let cm = 0x5a827999;
  let cr = 19;
  const tm = new Int32Array(192);
  const tr = new Uint8Array(192);
  for (let i = 0; i < 192; i++) {
    tm[i] = cm;
    tr[i] = cr;
    cm = (cm + 0x6ed9eba1) | 0;
    cr = (cr + 17) & 31;
  }
  // Forward octave W(i) on A..H = w[0..7].
  const octave = (i: number): void => {
    const o = 8 * i;
    w[6] = w[6]! ^ f1(w[7]!, tr[o]!, tm[o]!);
    w[5] = w[5]! ^ f2(w[6]!, tr[o + 1]!, tm[o + 1]!);
    w[4] = w[4]! ^ f3(w[5]!, tr[o + 2]!, tm[o + 2]!);
    w[3] = w[3]! ^ f1(w[4]!, tr[o + 3]!, tm[o + 3]!);
    w[2] = w[2]! ^ f2(w[3]!, tr[o + 4]!, tm[o + 4]!);
    w[1] = w[1]! ^ f3(w[2]!, tr[o + 5]!, tm[o + 5]!);
    w[0] = w[0]! ^ f1(w[1]!, tr[o + 6]!, tm[o + 6]!);
    w[7] = w[7]! ^ f2(w[0]!, tr[o + 7]!, tm[o + 7]!);
  };
  const km = new Int32Array(48);
  const kr = new Uint8Array(48);
  for (let i = 0; i < 12; i++) {
    octave(2 * i);
    octave(2 * i + 1);
    // Kr_i = low 5 bits of (A, C, E, G); Km_i = (H, F, D, B).
    kr[4 * i] = w[0]! & 31;
    kr[4 * i + 1] = w[2]! & 31;
    kr[4 * i + 2] = w[4]! & 31;
    kr[4 * i + 3] = w[6]! & 31;
    km[4 * i] = w[7]!;
    km[4 * i + 1] = w[5]!;
    km[4 * i + 2] = w[3]!;
    km[4 * i + 3] = w[1]!;
  }
  w.fill(0);
  return { km, kr };
}

class Cast6 implements BlockCipher {
  readonly blockSize = 16;
  #key: Cast6Key | undefined;

  constructor(key: Uint8Array) {
    this.#key = cast6Schedule(key);
  }

  encryptBlocks(src: Uint8Array, dst: Uint8Array): void {
    const key = this.#key;
    if (!key) throw wipedError('cast6');
    checkBlocks('cast6', 16, src, dst);
    const { km, kr } = key;
    for (let o = 0; o < src.length; o += 16) {
      let a = be32(src, o);
      let b = be32(src, o + 4);
      let c = be32(src, o + 8);
      let d = be32(src, o + 12);
      // Six forward quad-rounds Q(i), then six reverse quad-rounds QBAR(i) (section 2.3).
      for (let q = 0; q < 24; q += 4) {
        c ^= f1(d, kr[q]!, km[q]!);
        b ^= f2(c, kr[q + 1]!, km[q + 1]!);
        a ^= f3(b, kr[q + 2]!, km[q + 2]!);
        d ^= f1(a, kr[q + 3]!, km[q + 3]!);
      }
      for (let q = 24; q < 48; q += 4) {
        d ^= f1(a, kr[q + 3]!, km[q + 3]!);
        a ^= f3(b, kr[q + 2]!, km[q + 2]!);
        b ^= f2(c, kr[q + 1]!, km[q + 1]!);
        c ^= f1(d, kr[q]!, km[q]!);
      }
      putBe32(dst, o, a);
      putBe32(dst, o + 4, b);
      putBe32(dst, o + 8, c);
      putBe32(dst, o + 12, d);
    }
  }

  decryptBlocks(src: Uint8Array, dst: Uint8Array): void {
    const key = this.#key;
    if (!key) throw wipedError('cast6');
    checkBlocks('cast6', 16, src, dst);
    const { km, kr } = key;
    for (let o = 0; o < src.length; o += 16) {
      let a = be32(src, o);
      let b = be32(src, o + 4);
      let c = be32(src, o + 8);
      let d = be32(src, o + 12);
      // The encryption rounds in reverse: Q(i) for i = 11..6, then QBAR(i) for i = 5..0.
      for (let q = 44; q >= 24; q -= 4) {
        c ^= f1(d, kr[q]!, km[q]!);
        b ^= f2(c, kr[q + 1]!, km[q + 1]!);
        a ^= f3(b, kr[q + 2]!, km[q + 2]!);
        d ^= f1(a, kr[q + 3]!, km[q + 3]!);
      }
      for (let q = 20; q >= 0; q -= 4) {
        d ^= f1(a, kr[q + 3]!, km[q + 3]!);
        a ^= f3(b, kr[q + 2]!, km[q + 2]!);
        b ^= f2(c, kr[q + 1]!, km[q + 1]!);
        c ^= f1(d, kr[q]!, km[q]!);
      }
      putBe32(dst, o, a);
      putBe32(dst, o + 4, b);
      putBe32(dst, o + 8, c);
      putBe32(dst, o + 12, d);
    }
  }

  wipe(): void {
    this.#key?.km.fill(0);
    this.#key?.kr.fill(0);
    this.#key = undefined;
  }
}

export const cast6: BlockCipherAlgorithm = {
  name: 'cast6',
  blockSize: 16,
  keySizes: CAST6_KEY_SIZES,
  create(key: Uint8Array): BlockCipher {
    checkKeySize('cast6', CAST6_KEY_SIZES, key);
    return new Cast6(key);
  },
};
