// ChaCha, HChaCha and XChaCha as the kernel uses them (crypto/chacha_generic.c, lib/crypto/chacha.c):
// RFC 8439 section 2.3 block function with a round count of 20 or 12, state words 12..15 taken
// from a 16-byte IV in little-endian order (counter || nonce, the kernel's and OpenSSL's
// `chacha20` layout), the 32-bit block counter in word 12 incremented per block.
//
// XChaCha (draft-irtf-cfrg-xchacha section 2.3, kernel crypto_xchacha_crypt): subkey =
// HChaCha(key, iv[0..16]); then ChaCha(subkey) with words 12..15 = iv[24..32] (stream position,
// 64 bits) || iv[16..24] (the last 64 nonce bits).
//
// The hot path works on Uint32Array word views of little-endian data (see adiantum.ts); the
// byte-oriented helpers below are the reference path for test vectors.

export const CHACHA_KEY_SIZE = 32;
export const CHACHA_IV_SIZE = 16;
export const XCHACHA_IV_SIZE = 32;
export const CHACHA_BLOCK_SIZE = 64;

/** "expand 32-byte k" as four little-endian words (RFC 8439 section 2.3). */
const C0 = 0x61707865;
const C1 = 0x3320646e;
const C2 = 0x79622d32;
const C3 = 0x6b206574;

/** Fills state words 0..11 with the constants and a 32-byte key given as 8 words. */
export function chachaInitKeyWords(state: Uint32Array, key: ArrayLike<number>): void {
  state[0] = C0;
  state[1] = C1;
  state[2] = C2;
  state[3] = C3;
  for (let i = 0; i < 8; i++) state[4 + i] = key[i]!;
}

/** Little-endian 32-bit word of `b` at byte offset `o`. */
export function le32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/** Writes `v` as a little-endian 32-bit word into `b` at byte offset `o`. */
export function putLe32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = v >>> 24;
}

/**
 * One ChaCha block (RFC 8439 section 2.3.1) from `s` (16 words, not modified) with `rounds`
 * rounds (20 or 12). `xor` false: stores the keystream block into out[off..off+16];
 * `xor` true: XORs it into out[off..off+16].
 */
export function chachaBlock(s: Uint32Array, rounds: number, out: Uint32Array, off: number, xor: boolean): void {
  const j0 = s[0]!, j1 = s[1]!, j2 = s[2]!, j3 = s[3]!;
  const j4 = s[4]!, j5 = s[5]!, j6 = s[6]!, j7 = s[7]!;
  const j8 = s[8]!, j9 = s[9]!, j10 = s[10]!, j11 = s[11]!;
  const j12 = s[12]!, j13 = s[13]!, j14 = s[14]!, j15 = s[15]!;
  let x0 = j0, x1 = j1, x2 = j2, x3 = j3, x4 = j4, x5 = j5, x6 = j6, x7 = j7;
  let x8 = j8, x9 = j9, x10 = j10, x11 = j11, x12 = j12, x13 = j13, x14 = j14, x15 = j15;
  for (let i = 0; i < rounds; i += 2) {
    // Column round: QR(0,4,8,12) QR(1,5,9,13) QR(2,6,10,14) QR(3,7,11,15)
    x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 16) | (x12 >>> 16);
    x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 12) | (x4 >>> 20);
    x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 8) | (x12 >>> 24);
    x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 7) | (x4 >>> 25);

    x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 16) | (x13 >>> 16);
    x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 12) | (x5 >>> 20);
    x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 8) | (x13 >>> 24);
    x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 7) | (x5 >>> 25);

    x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 16) | (x14 >>> 16);
    x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 12) | (x6 >>> 20);
    x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 8) | (x14 >>> 24);
    x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 7) | (x6 >>> 25);

    x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 16) | (x15 >>> 16);
    x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 12) | (x7 >>> 20);
    x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 8) | (x15 >>> 24);
    x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 7) | (x7 >>> 25);

    // Diagonal round: QR(0,5,10,15) QR(1,6,11,12) QR(2,7,8,13) QR(3,4,9,14)
    x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 16) | (x15 >>> 16);
    x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 12) | (x5 >>> 20);
    x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 8) | (x15 >>> 24);
    x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 7) | (x5 >>> 25);

    x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 16) | (x12 >>> 16);
    x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 12) | (x6 >>> 20);
    x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 8) | (x12 >>> 24);
    x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 7) | (x6 >>> 25);

    x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 16) | (x13 >>> 16);
    x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 12) | (x7 >>> 20);
    x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 8) | (x13 >>> 24);
    x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 7) | (x7 >>> 25);

    x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 16) | (x14 >>> 16);
    x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 12) | (x4 >>> 20);
    x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 8) | (x14 >>> 24);
    x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 7) | (x4 >>> 25);
  }
  // Feed-forward (RFC 8439 section 2.3: add the input state to the output state).
  if (xor) {
    out[off] = out[off]! ^ (x0 + j0); out[off + 1] = out[off + 1]! ^ (x1 + j1);
    out[off + 2] = out[off + 2]! ^ (x2 + j2); out[off + 3] = out[off + 3]! ^ (x3 + j3);
    out[off + 4] = out[off + 4]! ^ (x4 + j4); out[off + 5] = out[off + 5]! ^ (x5 + j5);
    out[off + 6] = out[off + 6]! ^ (x6 + j6); out[off + 7] = out[off + 7]! ^ (x7 + j7);
    out[off + 8] = out[off + 8]! ^ (x8 + j8); out[off + 9] = out[off + 9]! ^ (x9 + j9);
    out[off + 10] = out[off + 10]! ^ (x10 + j10); out[off + 11] = out[off + 11]! ^ (x11 + j11);
    out[off + 12] = out[off + 12]! ^ (x12 + j12); out[off + 13] = out[off + 13]! ^ (x13 + j13);
    out[off + 14] = out[off + 14]! ^ (x14 + j14); out[off + 15] = out[off + 15]! ^ (x15 + j15);
  } else {
    out[off] = x0 + j0; out[off + 1] = x1 + j1; out[off + 2] = x2 + j2; out[off + 3] = x3 + j3;
    out[off + 4] = x4 + j4; out[off + 5] = x5 + j5; out[off + 6] = x6 + j6; out[off + 7] = x7 + j7;
    out[off + 8] = x8 + j8; out[off + 9] = x9 + j9; out[off + 10] = x10 + j10; out[off + 11] = x11 + j11;
    out[off + 12] = x12 + j12; out[off + 13] = x13 + j13; out[off + 14] = x14 + j14; out[off + 15] = x15 + j15;
  }
}

/**
 * HChaCha (draft-irtf-cfrg-xchacha section 2.2; kernel hchacha_block_generic): the rounds over
 * `s` without the feed-forward, output words 0..3 and 12..15 into subkey[0..8]. `tmp` is 16
 * words of scratch. Implemented as the block function minus the input state.
 */
export function hchachaWords(s: Uint32Array, rounds: number, tmp: Uint32Array, subkey: Uint32Array): void {
  chachaBlock(s, rounds, tmp, 0, false);
  subkey[0] = tmp[0]! - s[0]!;
  subkey[1] = tmp[1]! - s[1]!;
  subkey[2] = tmp[2]! - s[2]!;
  subkey[3] = tmp[3]! - s[3]!;
  subkey[4] = tmp[12]! - s[12]!;
  subkey[5] = tmp[13]! - s[13]!;
  subkey[6] = tmp[14]! - s[14]!;
  subkey[7] = tmp[15]! - s[15]!;
}

/** Key bytes as 8 little-endian words. */
export function keyWords(key: Uint8Array): Uint32Array {
  if (key.length !== CHACHA_KEY_SIZE) throw new RangeError(`ChaCha key must be ${CHACHA_KEY_SIZE} bytes`);
  const w = new Uint32Array(8);
  for (let i = 0; i < 8; i++) w[i] = le32(key, 4 * i);
  return w;
}

/**
 * XORs the keystream for `state` (counter in word 12, advanced per block, 32-bit wrap as in the
 * kernel's chacha_crypt_generic) into `data` bytes. Reference path: any length, any alignment.
 */
function streamXorBytes(state: Uint32Array, rounds: number, data: Uint8Array): void {
  const ks = new Uint32Array(16);
  const ksb = new Uint8Array(64);
  for (let pos = 0; pos < data.length; pos += 64) {
    chachaBlock(state, rounds, ks, 0, false);
    state[12] = (state[12]! + 1) >>> 0;
    for (let i = 0; i < 16; i++) putLe32(ksb, 4 * i, ks[i]!);
    const n = Math.min(64, data.length - pos);
    for (let i = 0; i < n; i++) data[pos + i]! ^= ksb[i]!;
  }
}

/** ChaCha with a 16-byte IV (counter || nonce, the kernel's `chacha20` skcipher), in place. */
export function chachaXor(key: Uint8Array, iv: Uint8Array, rounds: number, data: Uint8Array): void {
  if (iv.length !== CHACHA_IV_SIZE) throw new RangeError(`ChaCha IV must be ${CHACHA_IV_SIZE} bytes`);
  const state = new Uint32Array(16);
  chachaInitKeyWords(state, keyWords(key));
  for (let i = 0; i < 4; i++) state[12 + i] = le32(iv, 4 * i);
  streamXorBytes(state, rounds, data);
}

/** HChaCha of a 32-byte key and 16-byte input; returns the 32-byte subkey. */
export function hchacha(key: Uint8Array, input: Uint8Array, rounds: number): Uint8Array {
  if (input.length !== 16) throw new RangeError('HChaCha input must be 16 bytes');
  const state = new Uint32Array(16);
  chachaInitKeyWords(state, keyWords(key));
  for (let i = 0; i < 4; i++) state[12 + i] = le32(input, 4 * i);
  const sub = new Uint32Array(8);
  hchachaWords(state, rounds, new Uint32Array(16), sub);
  const out = new Uint8Array(32);
  for (let i = 0; i < 8; i++) putLe32(out, 4 * i, sub[i]!);
  return out;
}

/** XChaCha with the kernel's 32-byte IV (nonce[24] || stream position le64), in place. */
export function xchachaXor(key: Uint8Array, iv: Uint8Array, rounds: number, data: Uint8Array): void {
  if (iv.length !== XCHACHA_IV_SIZE) throw new RangeError(`XChaCha IV must be ${XCHACHA_IV_SIZE} bytes`);
  const state = new Uint32Array(16);
  chachaInitKeyWords(state, keyWords(key));
  for (let i = 0; i < 4; i++) state[12 + i] = le32(iv, 4 * i);
  const sub = new Uint32Array(8);
  hchachaWords(state, rounds, new Uint32Array(16), sub);
  chachaInitKeyWords(state, sub);
  state[12] = le32(iv, 24);
  state[13] = le32(iv, 28);
  state[14] = le32(iv, 16);
  state[15] = le32(iv, 20);
  streamXorBytes(state, rounds, data);
}
