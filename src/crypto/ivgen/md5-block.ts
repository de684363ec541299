// The MD5 block function (RFC 1321, section 3.4) on a raw state, without padding or length:
// what lmk needs, since it exports the MD5 state after whole blocks instead of a digest.

const S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
const K = new Uint32Array(64);
for (let i = 0; i < 64; i++) K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) >>> 0;

export const MD5_INIT = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476] as const;

/** Processes the 64-byte block at `src[off..off+64]` into `state` (4 words). */
export function md5Block(state: Uint32Array, src: Uint8Array, off: number, w: Uint32Array): void {
  for (let i = 0; i < 16; i++) {
    const o = off + 4 * i;
    w[i] = (src[o]! | (src[o + 1]! << 8) | (src[o + 2]! << 16) | (src[o + 3]! << 24)) >>> 0;
  }
  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  for (let i = 0; i < 64; i++) {
    let f: number;
    let g: number;
    if (i < 16) {
      f = (b & c) | (~b & d);
      g = i;
    } else if (i < 32) {
      f = (d & b) | (~d & c);
      g = (5 * i + 1) & 15;
    } else if (i < 48) {
      f = b ^ c ^ d;
      g = (3 * i + 5) & 15;
    } else {
      f = c ^ (b | ~d);
      g = (7 * i) & 15;
    }
    const s = S[((i >> 4) << 2) | (i & 3)]!;
    const t = (a + f + K[i]! + w[g]!) >>> 0;
    a = d;
    d = c;
    c = b;
    b = (b + ((t << s) | (t >>> (32 - s)))) >>> 0;
  }
  state[0] = (state[0]! + a) >>> 0;
  state[1] = (state[1]! + b) >>> 0;
  state[2] = (state[2]! + c) >>> 0;
  state[3] = (state[3]! + d) >>> 0;
}
