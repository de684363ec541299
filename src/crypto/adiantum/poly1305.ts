// Poly1305 (RFC 8439 section 2.5) split the way the kernel's Adiantum uses it
// (include/crypto/internal/poly1305.h): a "core" key is only r (clamped), blocks are absorbed
// with an explicit high bit, and emit() returns h mod 2^130-5 reduced to 128 bits, optionally
// plus s (the one-time pad half of a full Poly1305 key). Adiantum uses the core without s as an
// ε-almost-∆-universal hash (paper section 6.4).
//
// Arithmetic: h and r in radix 2^13, ten limbs of 13 bits (130 = 10 * 13, so 2^130 ≡ 5 folds
// limb products back without shifts). Every partial product is below 2^31 and each column sum of
// ten products below 2^35, exact in a double, so no BigInt and no 64-bit emulation is needed.

export const POLY1305_BLOCK_SIZE = 16;
export const POLY1305_KEY_SIZE = 32;
export const POLY1305_DIGEST_SIZE = 16;

const MASK13 = 0x1fff;

/** r, clamped and split into limbs, plus 5*r for the folded columns. */
export class Poly1305Key {
  readonly r = new Float64Array(10);
  readonly r5 = new Float64Array(10);

  /** Sets r from 16 bytes: r &= 0x0ffffffc0ffffffc0ffffffc0fffffff (RFC 8439 section 2.5.1). */
  constructor(raw: Uint8Array, offset = 0) {
    const w0 = rd32(raw, offset) & 0x0fffffff;
    const w1 = rd32(raw, offset + 4) & 0x0ffffffc;
    const w2 = rd32(raw, offset + 8) & 0x0ffffffc;
    const w3 = rd32(raw, offset + 12) & 0x0ffffffc;
    splitLimbs(this.r, w0, w1, w2, w3, 0);
    for (let i = 0; i < 10; i++) this.r5[i] = 5 * this.r[i]!;
  }

  wipe(): void {
    this.r.fill(0);
    this.r5.fill(0);
  }
}

function rd32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/** 128-bit little-endian words plus a bit at 2^128 into ten 13-bit limbs (added to `h`, or stored). */
function splitLimbs(h: Float64Array, w0: number, w1: number, w2: number, w3: number, hibit: number): void {
  h[0] = w0 & MASK13;
  h[1] = (w0 >>> 13) & MASK13;
  h[2] = ((w0 >>> 26) | (w1 << 6)) & MASK13;
  h[3] = (w1 >>> 7) & MASK13;
  h[4] = ((w1 >>> 20) | (w2 << 12)) & MASK13;
  h[5] = (w2 >>> 1) & MASK13;
  h[6] = (w2 >>> 14) & MASK13;
  h[7] = ((w2 >>> 27) | (w3 << 5)) & MASK13;
  h[8] = (w3 >>> 8) & MASK13;
  h[9] = (w3 >>> 21) | (hibit << 11);
}

/** The running accumulator h (kernel struct poly1305_state). Reused; no allocation per block. */
export class Poly1305State {
  private readonly h = new Float64Array(10);
  private readonly d = new Float64Array(10);

  init(): void {
    this.h.fill(0);
  }

  /**
   * Absorbs one 16-byte block given as four little-endian words: h = (h + m + hibit*2^128) * r
   * mod 2^130-5 (kept partially reduced: limbs below 2^13 + small carries).
   */
  blockWords(key: Poly1305Key, w0: number, w1: number, w2: number, w3: number, hibit: number): void {
    const h = this.h, r = key.r, rr = key.r5;
    // h += m, the block split into 13-bit limbs (see splitLimbs) with the 2^128 bit on top.
    const h0 = h[0]! + (w0 & MASK13);
    const h1 = h[1]! + ((w0 >>> 13) & MASK13);
    const h2 = h[2]! + (((w0 >>> 26) | (w1 << 6)) & MASK13);
    const h3 = h[3]! + ((w1 >>> 7) & MASK13);
    const h4 = h[4]! + (((w1 >>> 20) | (w2 << 12)) & MASK13);
    const h5 = h[5]! + ((w2 >>> 1) & MASK13);
    const h6 = h[6]! + ((w2 >>> 14) & MASK13);
    const h7 = h[7]! + (((w2 >>> 27) | (w3 << 5)) & MASK13);
    const h8 = h[8]! + ((w3 >>> 8) & MASK13);
    const h9 = h[9]! + ((w3 >>> 21) | (hibit << 11));
    const r0 = r[0]!, r1 = r[1]!, r2 = r[2]!, r3 = r[3]!, r4 = r[4]!, r5 = r[5]!, r6 = r[6]!, r7 = r[7]!, r8 = r[8]!, r9 = r[9]!;
    const s1 = rr[1]!, s2 = rr[2]!, s3 = rr[3]!, s4 = rr[4]!, s5 = rr[5]!, s6 = rr[6]!, s7 = rr[7]!, s8 = rr[8]!, s9 = rr[9]!;
    // Schoolbook product; h_j * r_k with j + k >= 10 wraps to column j + k - 10 times 5 (s_k = 5 r_k).
    let d0 = h0 * r0 + h1 * s9 + h2 * s8 + h3 * s7 + h4 * s6 + h5 * s5 + h6 * s4 + h7 * s3 + h8 * s2 + h9 * s1;
    let d1 = h0 * r1 + h1 * r0 + h2 * s9 + h3 * s8 + h4 * s7 + h5 * s6 + h6 * s5 + h7 * s4 + h8 * s3 + h9 * s2;
    let d2 = h0 * r2 + h1 * r1 + h2 * r0 + h3 * s9 + h4 * s8 + h5 * s7 + h6 * s6 + h7 * s5 + h8 * s4 + h9 * s3;
    let d3 = h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s9 + h5 * s8 + h6 * s7 + h7 * s6 + h8 * s5 + h9 * s4;
    let d4 = h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0 + h5 * s9 + h6 * s8 + h7 * s7 + h8 * s6 + h9 * s5;
    let d5 = h0 * r5 + h1 * r4 + h2 * r3 + h3 * r2 + h4 * r1 + h5 * r0 + h6 * s9 + h7 * s8 + h8 * s7 + h9 * s6;
    let d6 = h0 * r6 + h1 * r5 + h2 * r4 + h3 * r3 + h4 * r2 + h5 * r1 + h6 * r0 + h7 * s9 + h8 * s8 + h9 * s7;
    let d7 = h0 * r7 + h1 * r6 + h2 * r5 + h3 * r4 + h4 * r3 + h5 * r2 + h6 * r1 + h7 * r0 + h8 * s9 + h9 * s8;
    let d8 = h0 * r8 + h1 * r7 + h2 * r6 + h3 * r5 + h4 * r4 + h5 * r3 + h6 * r2 + h7 * r1 + h8 * r0 + h9 * s9;
    let d9 = h0 * r9 + h1 * r8 + h2 * r7 + h3 * r6 + h4 * r5 + h5 * r4 + h6 * r3 + h7 * r2 + h8 * r1 + h9 * r0;
    // Carry: every column is below 2^35, so its low 13 bits survive ToInt32 and the quotient is exact.
    let c: number, lo: number;
    lo = d0 & MASK13; c = (d0 - lo) / 8192; h[0] = lo;
    d1 += c;
    lo = d1 & MASK13; c = (d1 - lo) / 8192; h[1] = lo;
    d2 += c;
    lo = d2 & MASK13; c = (d2 - lo) / 8192; h[2] = lo;
    d3 += c;
    lo = d3 & MASK13; c = (d3 - lo) / 8192; h[3] = lo;
    d4 += c;
    lo = d4 & MASK13; c = (d4 - lo) / 8192; h[4] = lo;
    d5 += c;
    lo = d5 & MASK13; c = (d5 - lo) / 8192; h[5] = lo;
    d6 += c;
    lo = d6 & MASK13; c = (d6 - lo) / 8192; h[6] = lo;
    d7 += c;
    lo = d7 & MASK13; c = (d7 - lo) / 8192; h[7] = lo;
    d8 += c;
    lo = d8 & MASK13; c = (d8 - lo) / 8192; h[8] = lo;
    d9 += c;
    lo = d9 & MASK13; c = (d9 - lo) / 8192; h[9] = lo;
    // 2^130 ≡ 5 (mod p): fold the carry out of the top limb into the bottom one.
    d0 = h[0]! + c * 5;
    lo = d0 & MASK13;
    h[0] = lo;
    h[1] = h[1]! + (d0 - lo) / 8192;
  }

  /** Absorbs `nblocks` 16-byte blocks of `src` from byte offset `off`. */
  blocks(key: Poly1305Key, src: Uint8Array, off: number, nblocks: number, hibit: number): void {
    for (let i = 0; i < nblocks; i++, off += 16) {
      this.blockWords(key, rd32(src, off), rd32(src, off + 4), rd32(src, off + 8), rd32(src, off + 12), hibit);
    }
  }

  /**
   * Final reduction (kernel poly1305_core_emit): h mod 2^130-5, then mod 2^128, plus `s` (4
   * little-endian words) when given. Writes the 4 result words into out[outOff..outOff+4].
   */
  emitWords(out: Uint32Array, outOff: number, s?: ArrayLike<number>): void {
    const h = this.h, g = this.d;
    // Full carry (twice: the fold into limb 0 can carry once more).
    for (let pass = 0; pass < 2; pass++) {
      let c = 0;
      for (let i = 0; i < 10; i++) {
        const v = h[i]! + c;
        const lo = v & MASK13;
        c = (v - lo) / 8192;
        h[i] = lo;
      }
      h[0] = h[0]! + c * 5;
    }
    {
      const v = h[0]!;
      const lo = v & MASK13;
      h[0] = lo;
      h[1] = h[1]! + (v - lo) / 8192;
    }
    // Now h < 2^130 + small; g = h + 5 - 2^130 is h - p. Select g when it is non-negative.
    let c = 5;
    for (let i = 0; i < 10; i++) {
      const v = h[i]! + c;
      const lo = v & MASK13;
      c = (v - lo) / 8192;
      g[i] = lo;
    }
    const sel = c !== 0 ? g : h; // carry out of bit 130 means h + 5 >= 2^130, i.e. h >= p
    // Recombine the low 128 bits into words.
    let w0 = (sel[0]! | (sel[1]! << 13) | (sel[2]! << 26)) >>> 0;
    let w1 = ((sel[2]! >>> 6) | (sel[3]! << 7) | (sel[4]! << 20)) >>> 0;
    let w2 = ((sel[4]! >>> 12) | (sel[5]! << 1) | (sel[6]! << 14) | (sel[7]! << 27)) >>> 0;
    let w3 = ((sel[7]! >>> 5) | (sel[8]! << 8) | (sel[9]! << 21)) >>> 0;
    if (s) {
      let t = w0 + s[0]!;
      w0 = t >>> 0;
      t = w1 + s[1]! + (t > 0xffffffff ? 1 : 0);
      w1 = t >>> 0;
      t = w2 + s[2]! + (t > 0xffffffff ? 1 : 0);
      w2 = t >>> 0;
      t = w3 + s[3]! + (t > 0xffffffff ? 1 : 0);
      w3 = t >>> 0;
    }
    out[outOff] = w0;
    out[outOff + 1] = w1;
    out[outOff + 2] = w2;
    out[outOff + 3] = w3;
  }

  wipe(): void {
    this.h.fill(0);
    this.d.fill(0);
  }
}

/** One-shot Poly1305 MAC (RFC 8439 section 2.5): 32-byte key r || s, any message length. */
export function poly1305Mac(key: Uint8Array, msg: Uint8Array): Uint8Array {
  if (key.length !== POLY1305_KEY_SIZE) throw new RangeError(`Poly1305 key must be ${POLY1305_KEY_SIZE} bytes`);
  const k = new Poly1305Key(key, 0);
  const st = new Poly1305State();
  st.init();
  const full = msg.length >>> 4;
  st.blocks(k, msg, 0, full, 1);
  const rest = msg.length & 15;
  if (rest) {
    // Final partial block: the message bytes, then 0x01, then zeros; no 2^128 bit (section 2.5.1).
    const last = new Uint8Array(16);
    last.set(msg.subarray(full * 16));
    last[rest] = 1;
    st.blocks(k, last, 0, 1, 0);
  }
  const s = [rd32(key, 16), rd32(key, 20), rd32(key, 24), rd32(key, 28)];
  const tag = new Uint32Array(4);
  st.emitWords(tag, 0, s);
  const out = new Uint8Array(16);
  for (let i = 0; i < 4; i++) {
    const v = tag[i]!;
    out[4 * i] = v & 0xff;
    out[4 * i + 1] = (v >>> 8) & 0xff;
    out[4 * i + 2] = (v >>> 16) & 0xff;
    out[4 * i + 3] = v >>> 24;
  }
  return out;
}
