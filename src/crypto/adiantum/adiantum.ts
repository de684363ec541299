// Adiantum (Crowley & Biggers, "Adiantum: length-preserving encryption for entry-level
// processors", section 6; kernel crypto/adiantum.c): the HBSH construction over XChaCha12 or
// XChaCha20, AES-256 on one block and the NH+Poly1305 ε-∆U hash. One sector is one message
// P = P_L || P_R with |P_R| = 16, the 32-byte IV is the tweak T.
//
//   key setup (adiantum_setkey):  K_E || K_T || K_H = XChaCha_{K_S}(nonce = 1 || 0^191)
//                                 (32 + 16 + 1088 bytes; K_H = Poly1305 r || NH key)
//   H(T, L) = Poly1305_{K_T}(le64(8|L|) || 0^64 || T) + NHPoly1305_{K_H}(L)     (mod 2^128)
//
//          P_L                       P_R
//           |----- H(T, P_L) ------> (+)   P_M = P_R + H(T, P_L)
//           |                         |
//           |                      AES-256_{K_E}
//           |                         |    C_M
//   (xor) <-+- XChaCha_{K_S}(C_M || le32(1) || 0^32, position 0)
//           |                         |
//          C_L ----- H(T, C_L) -----> (-)   C_R = C_M - H(T, C_L)
//
// Decryption runs the same steps backwards; the stream nonce is C_M in both directions.
//
// Batching (types.ts Skcipher): the AES step of every sector in a request is independent, so a
// request runs in three passes: first hash of every sector, one node:crypto ECB call over all
// P_M (or C_M) blocks, then stream cipher and second hash of every sector. That keeps the
// node:crypto call (and its one output Buffer) per request, not per block.

import { createCipheriv, createDecipheriv, type Cipher, type Decipher } from 'node:crypto';
import { UcryptError } from '../../errors.js';
import type { Skcipher, SkcipherAlgorithm } from '../types.js';
import { CHACHA_KEY_SIZE, XCHACHA_IV_SIZE, chachaBlock, chachaInitKeyWords, hchachaWords, keyWords, xchachaXor } from './chacha.js';
import { NHPOLY1305_KEY_SIZE, NhPoly1305 } from './nh.js';
import { POLY1305_BLOCK_SIZE, Poly1305Key, Poly1305State } from './poly1305.js';

export const ADIANTUM_KEY_SIZE = CHACHA_KEY_SIZE;
/** TWEAK_SIZE in crypto/adiantum.c: two Poly1305 blocks. */
export const ADIANTUM_IV_SIZE = 32;
/** cra_blocksize: the right-hand part, the AES block. */
export const ADIANTUM_BLOCK_SIZE = 16;
const BLOCKCIPHER_KEY_SIZE = 32;
const DERIVED_KEYS_SIZE = BLOCKCIPHER_KEY_SIZE + POLY1305_BLOCK_SIZE + NHPOLY1305_KEY_SIZE;

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function badArgument(message: string, context: Record<string, unknown> = {}): UcryptError {
  return new UcryptError('ERR_BAD_ARGUMENT', 'EINVAL', message, context);
}

/** Adiantum with a set key (the kernel's adiantum_tfm_ctx plus a reusable request context). */
export class Adiantum implements Skcipher {
  readonly ivSize = ADIANTUM_IV_SIZE;
  readonly blockSize = ADIANTUM_BLOCK_SIZE;

  private readonly rounds: number;
  private readonly ks: Uint32Array; // K_S as words
  private readonly headerKey: Poly1305Key; // K_T
  private readonly nh: NhPoly1305; // K_H
  private aesEnc: Cipher | undefined; // K_E
  private aesDec: Decipher | undefined;
  private readonly poly = new Poly1305State();
  private readonly state = new Uint32Array(16);
  private readonly tmp = new Uint32Array(16);
  private readonly subkey = new Uint32Array(8);
  private readonly digest = new Uint32Array(4);
  /** Per sector of a batch: words 0..3 P_M/C_M (whichever feeds the stream), 4..7 header hash. */
  private perSector = new Uint32Array(8 * 8);
  /** P_M or C_M blocks handed to node:crypto in one call. */
  private aesIn = Buffer.alloc(16 * 8);
  /** Aligned copy of one sector when the caller's buffer cannot be viewed as words. */
  private bounce = new Uint32Array(0);
  private viewOf: Uint8Array | undefined;
  private view: Uint32Array = new Uint32Array(0);
  private wiped = false;

  constructor(key: Uint8Array, rounds: 12 | 20) {
    if (key.length !== ADIANTUM_KEY_SIZE) {
      throw badArgument(`adiantum: key must be ${ADIANTUM_KEY_SIZE} bytes, got ${key.length}`, { keyLength: key.length });
    }
    this.rounds = rounds;
    this.ks = keyWords(key);
    // adiantum_setkey: derived keys are the XChaCha keystream for IV 1 || 0^31.
    const iv = new Uint8Array(XCHACHA_IV_SIZE);
    iv[0] = 1;
    const derived = new Uint8Array(DERIVED_KEYS_SIZE);
    xchachaXor(key, iv, rounds, derived);
    this.aesEnc = createCipheriv('aes-256-ecb', derived.subarray(0, BLOCKCIPHER_KEY_SIZE), null).setAutoPadding(false);
    this.aesDec = createDecipheriv('aes-256-ecb', derived.subarray(0, BLOCKCIPHER_KEY_SIZE), null).setAutoPadding(false);
    this.headerKey = new Poly1305Key(derived, BLOCKCIPHER_KEY_SIZE);
    this.nh = new NhPoly1305(derived, BLOCKCIPHER_KEY_SIZE + POLY1305_BLOCK_SIZE);
    derived.fill(0);
  }

  encrypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array): void {
    this.crypt(data, sectorSize, ivs, true);
  }

  decrypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array): void {
    this.crypt(data, sectorSize, ivs, false);
  }

  wipe(): void {
    this.wiped = true;
    this.ks.fill(0);
    this.headerKey.wipe();
    this.nh.wipe();
    this.poly.wipe();
    this.state.fill(0);
    this.tmp.fill(0);
    this.subkey.fill(0);
    this.digest.fill(0);
    this.perSector.fill(0);
    this.aesIn.fill(0);
    this.bounce.fill(0);
    // node:crypto keeps K_E inside OpenSSL; dropping the contexts is all we can do.
    this.aesEnc = undefined;
    this.aesDec = undefined;
    this.viewOf = undefined;
    this.view = new Uint32Array(0);
  }

  private crypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array, enc: boolean): void {
    if (this.wiped) throw badArgument('adiantum: the key has been wiped');
    if (!Number.isInteger(sectorSize) || sectorSize < ADIANTUM_BLOCK_SIZE) {
      throw badArgument(`adiantum: sector size must be at least ${ADIANTUM_BLOCK_SIZE} bytes, got ${sectorSize}`, { sectorSize });
    }
    if (data.length % sectorSize !== 0) {
      throw badArgument(`adiantum: data length ${data.length} is not a multiple of the sector size ${sectorSize}`, { length: data.length, sectorSize });
    }
    const count = data.length / sectorSize;
    if (ivs.length !== count * ADIANTUM_IV_SIZE) {
      throw badArgument(`adiantum: expected ${count} IVs of ${ADIANTUM_IV_SIZE} bytes, got ${ivs.length} bytes`, { sectors: count, ivBytes: ivs.length });
    }
    if (count === 0) return;
    const bulk = sectorSize - ADIANTUM_BLOCK_SIZE;
    if (LITTLE_ENDIAN && data.byteOffset % 4 === 0 && sectorSize % 16 === 0) {
      // Fast path: the sectors themselves, viewed as little-endian words.
      const w = this.wordsOf(data);
      const stride = sectorSize >>> 2;
      this.cryptSectors(w, 0, stride, bulk >>> 2, count, bulk, ivs, enc);
      return;
    }
    // Bounce path (odd sizes, unaligned buffers, big-endian hosts): one sector at a time through
    // an aligned copy laid out as L (zero-padded to 16 bytes) || R.
    const lWords = Math.ceil(bulk / 16) * 4;
    if (this.bounce.length < lWords + 4) this.bounce = new Uint32Array(lWords + 4);
    const b = this.bounce;
    for (let s = 0; s < count; s++) {
      const base = s * sectorSize;
      b.fill(0);
      for (let i = 0; i < bulk; i++) b[i >>> 2] = b[i >>> 2]! | (data[base + i]! << (8 * (i & 3)));
      for (let i = 0; i < 16; i++) b[lWords + (i >>> 2)] = b[lWords + (i >>> 2)]! | (data[base + bulk + i]! << (8 * (i & 3)));
      this.cryptSectors(b, 0, 0, lWords, 1, bulk, ivs.subarray(s * ADIANTUM_IV_SIZE, (s + 1) * ADIANTUM_IV_SIZE), enc);
      for (let i = 0; i < bulk; i++) data[base + i] = b[i >>> 2]! >>> (8 * (i & 3));
      for (let i = 0; i < 16; i++) data[base + bulk + i] = b[lWords + (i >>> 2)]! >>> (8 * (i & 3));
    }
    b.fill(0);
  }

  /** A Uint32Array over `data`, reused while callers pass the same (pooled) buffer. */
  private wordsOf(data: Uint8Array): Uint32Array {
    if (this.viewOf !== data || this.view.buffer !== data.buffer || this.view.byteOffset !== data.byteOffset || this.view.length * 4 !== data.length) {
      this.view = new Uint32Array(data.buffer, data.byteOffset, data.length >>> 2);
      this.viewOf = data;
    }
    return this.view;
  }

  /**
   * Encrypts or decrypts `count` sectors held in `w`: sector s has L at word `first + s*stride`
   * (`bulk` bytes) and R at `rDelta` words after it.
   */
  private cryptSectors(w: Uint32Array, first: number, stride: number, rDelta: number, count: number, bulk: number, ivs: Uint8Array, enc: boolean): void {
    if (this.perSector.length < 8 * count) this.perSector = new Uint32Array(8 * count);
    if (this.aesIn.length < 16 * count) this.aesIn = Buffer.alloc(16 * count);
    const ps = this.perSector, aesIn = this.aesIn, d = this.digest;

    // Pass 1 (adiantum_crypt, first hash step):
    //   enc: P_M = P_R + H(T, P_L)      dec: C_M = C_R + H(T, C_L)
    for (let s = 0; s < count; s++) {
      const l = first + s * stride, r = l + rDelta, p = 8 * s;
      this.headerHash(bulk, ivs, s * ADIANTUM_IV_SIZE, ps, p + 4);
      this.nh.hashWords(w, l, bulk, d, 0);
      add128(d, 0, ps, p + 4, d, 0);
      add128(w, r, d, 0, ps, p);
      const o = 16 * s;
      for (let i = 0; i < 4; i++) {
        const v = ps[p + i]!;
        aesIn[o + 4 * i] = v;
        aesIn[o + 4 * i + 1] = v >>> 8;
        aesIn[o + 4 * i + 2] = v >>> 16;
        aesIn[o + 4 * i + 3] = v >>> 24;
      }
    }

    // Pass 2: the block cipher on every sector's middle block in one call.
    //   enc: C_M = E(P_M)               dec: P_M = D(C_M)
    const cipher = enc ? this.aesEnc : this.aesDec;
    if (!cipher) throw badArgument('adiantum: the key has been wiped');
    const aesOut = cipher.update(aesIn.subarray(0, 16 * count));
    if (aesOut.length !== 16 * count) throw new Error(`adiantum: AES-256-ECB returned ${aesOut.length} bytes for ${16 * count}`);

    // Pass 3: stream cipher keyed by C_M, then the second hash step (adiantum_finish):
    //   enc: C_R = C_M - H(T, C_L)      dec: P_R = P_M - H(T, P_L)
    for (let s = 0; s < count; s++) {
      const l = first + s * stride, r = l + rDelta, p = 8 * s, o = 16 * s;
      if (enc) {
        for (let i = 0; i < 4; i++) ps[p + i] = rdBuf(aesOut, o + 4 * i); // C_M
      }
      this.streamXor(w, l, bulk, ps, p);
      this.nh.hashWords(w, l, bulk, d, 0);
      add128(d, 0, ps, p + 4, d, 0);
      if (enc) {
        sub128(ps, p, d, 0, w, r); // C_R = C_M - H
      } else {
        const pm = this.tmp;
        for (let i = 0; i < 4; i++) pm[i] = rdBuf(aesOut, o + 4 * i); // P_M
        sub128(pm, 0, d, 0, w, r); // P_R = P_M - H
      }
    }
    aesOut.fill(0);
  }

  /**
   * adiantum_hash_header: Poly1305 core (no s) under K_T of le64(8 * |L|) || 0^64 || T into
   * out[off..off+4].
   */
  private headerHash(bulk: number, ivs: Uint8Array, ivOff: number, out: Uint32Array, off: number): void {
    const st = this.poly, key = this.headerKey;
    st.init();
    const bits = bulk * 8;
    st.blockWords(key, bits >>> 0, Math.floor(bits / 4294967296) >>> 0, 0, 0, 1);
    st.blocks(key, ivs, ivOff, ADIANTUM_IV_SIZE / POLY1305_BLOCK_SIZE, 1);
    st.emitWords(out, off);
  }

  /**
   * XChaCha_{K_S} with IV C_M || le32(1) || 0^32 || position 0 (adiantum_crypt builds it in
   * rbuf), XORed into the `bulk` bytes of L at word `l`. Words past `bulk` in the last word are
   * scratch (bounce path only).
   */
  private streamXor(w: Uint32Array, l: number, bulk: number, nonce: Uint32Array, n: number): void {
    const st = this.state, rounds = this.rounds;
    // HChaCha(K_S, C_M) -> subkey (crypto_xchacha_crypt)
    chachaInitKeyWords(st, this.ks);
    st[12] = nonce[n]!;
    st[13] = nonce[n + 1]!;
    st[14] = nonce[n + 2]!;
    st[15] = nonce[n + 3]!;
    hchachaWords(st, rounds, this.tmp, this.subkey);
    // ChaCha(subkey): words 12..13 = stream position 0, 14..15 = iv[16..24] = le32(1) || 0.
    chachaInitKeyWords(st, this.subkey);
    st[12] = 0;
    st[13] = 0;
    st[14] = 1;
    st[15] = 0;
    const words = (bulk + 3) >>> 2;
    const full = words >>> 4;
    let off = l;
    for (let b = 0; b < full; b++, off += 16) {
      chachaBlock(st, rounds, w, off, true);
      st[12] = st[12]! + 1;
    }
    const rest = words & 15;
    if (rest) {
      const ks = this.tmp;
      chachaBlock(st, rounds, ks, 0, false);
      for (let i = 0; i < rest; i++) w[off + i] = w[off + i]! ^ ks[i]!;
    }
  }
}

function rdBuf(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/** out = x + y mod 2^128 over four little-endian words each (le128_add). out may alias x or y. */
function add128(x: Uint32Array, xo: number, y: Uint32Array, yo: number, out: Uint32Array, oo: number): void {
  let t = x[xo]! + y[yo]!;
  out[oo] = t;
  t = x[xo + 1]! + y[yo + 1]! + (t > 0xffffffff ? 1 : 0);
  out[oo + 1] = t;
  t = x[xo + 2]! + y[yo + 2]! + (t > 0xffffffff ? 1 : 0);
  out[oo + 2] = t;
  out[oo + 3] = x[xo + 3]! + y[yo + 3]! + (t > 0xffffffff ? 1 : 0);
}

/** out = x - y mod 2^128 over four little-endian words each (le128_sub). out may alias x or y. */
function sub128(x: Uint32Array, xo: number, y: Uint32Array, yo: number, out: Uint32Array, oo: number): void {
  let t = x[xo]! - y[yo]!;
  out[oo] = t;
  t = x[xo + 1]! - y[yo + 1]! - (t < 0 ? 1 : 0);
  out[oo + 1] = t;
  t = x[xo + 2]! - y[yo + 2]! - (t < 0 ? 1 : 0);
  out[oo + 2] = t;
  out[oo + 3] = x[xo + 3]! - y[yo + 3]! - (t < 0 ? 1 : 0);
}

function algorithm(rounds: 12 | 20): SkcipherAlgorithm {
  return {
    name: `adiantum(xchacha${rounds},aes)`,
    ivSize: ADIANTUM_IV_SIZE,
    blockSize: ADIANTUM_BLOCK_SIZE,
    keySizes: [ADIANTUM_KEY_SIZE],
    create: (key: Uint8Array) => new Adiantum(key, rounds),
  };
}

export const adiantumXChaCha12Aes: SkcipherAlgorithm = algorithm(12);
export const adiantumXChaCha20Aes: SkcipherAlgorithm = algorithm(20);
