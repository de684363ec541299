// Camellia (RFC 3713) with 16/24/32-byte keys, as crypto/camellia_generic.c. The registered
// algorithm uses OpenSSL's camellia-*-ecb through node:crypto when this Node has it (it does in
// the official builds) and otherwise this file's TypeScript implementation; the tests run both
// against the RFC 3713 vectors and against each other.

import type { BlockCipher, BlockCipherAlgorithm } from '../types.js';
import { be32, checkBlocks, checkKeySize, putBe32, wipedError } from './common.js';
import { nodeEcbAlgorithm, opensslHas } from './node-ecb.js';

export const CAMELLIA_KEY_SIZES = [16, 24, 32] as const;

/** SBOX1 (RFC 3713 section 2.4.4); SBOX2..4 derive from it. */
const SBOX1 = new Uint8Array([
  0x70, 0x82, 0x2c, 0xec, 0xb3, 0x27, 0xc0, 0xe5, 0xe4, 0x85, 0x57, 0x35, 0xea, 0x0c, 0xae, 0x41,
  0x23, 0xef, 0x6b, 0x93, 0x45, 0x19, 0xa5, 0x21, 0xed, 0x0e, 0x4f, 0x4e, 0x1d, 0x65, 0x92, 0xbd,
  0x86, 0xb8, 0xaf, 0x8f, 0x7c, 0xeb, 0x1f, 0xce, 0x3e, 0x30, 0xdc, 0x5f, 0x5e, 0xc5, 0x0b, 0x1a,
  0xa6, 0xe1, 0x39, 0xca, 0xd5, 0x47, 0x5d, 0x3d, 0xd9, 0x01, 0x5a, 0xd6, 0x51, 0x56, 0x6c, 0x4d,
  0x8b, 0x0d, 0x9a, 0x66, 0xfb, 0xcc, 0xb0, 0x2d, 0x74, 0x12, 0x2b, 0x20, 0xf0, 0xb1, 0x84, 0x99,
  0xdf, 0x4c, 0xcb, 0xc2, 0x34, 0x7e, 0x76, 0x05, 0x6d, 0xb7, 0xa9, 0x31, 0xd1, 0x17, 0x04, 0xd7,
  0x14, 0x58, 0x3a, 0x61, 0xde, 0x1b, 0x11, 0x1c, 0x32, 0x0f, 0x9c, 0x16, 0x53, 0x18, 0xf2, 0x22,
  0xfe, 0x44, 0xcf, 0xb2, 0xc3, 0xb5, 0x7a, 0x91, 0x24, 0x08, 0xe8, 0xa8, 0x60, 0xfc, 0x69, 0x50,
  0xaa, 0xd0, 0xa0, 0x7d, 0xa1, 0x89, 0x62, 0x97, 0x54, 0x5b, 0x1e, 0x95, 0xe0, 0xff, 0x64, 0xd2,
  0x10, 0xc4, 0x00, 0x48, 0xa3, 0xf7, 0x75, 0xdb, 0x8a, 0x03, 0xe6, 0xda, 0x09, 0x3f, 0xdd, 0x94,
  0x87, 0x5c, 0x83, 0x02, 0xcd, 0x4a, 0x90, 0x33, 0x73, 0x67, 0xf6, 0xf3, 0x9d, 0x7f, 0xbf, 0xe2,
  0x52, 0x9b, 0xd8, 0x26, 0xc8, 0x37, 0xc6, 0x3b, 0x81, 0x96, 0x6f, 0x4b, 0x13, 0xbe, 0x63, 0x2e,
  0xe9, 0x79, 0xa7, 0x8c, 0x9f, 0x6e, 0xbc, 0x8e, 0x29, 0xf5, 0xf9, 0xb6, 0x2f, 0xfd, 0xb4, 0x59,
  0x78, 0x98, 0x06, 0x6a, 0xe7, 0x46, 0x71, 0xba, 0xd4, 0x25, 0xab, 0x42, 0x88, 0xa2, 0x8d, 0xfa,
  0x72, 0x07, 0xb9, 0x55, 0xf8, 0xee, 0xac, 0x0a, 0x36, 0x49, 0x2a, 0x68, 0x3c, 0x38, 0xf1, 0xa4,
  0x40, 0x28, 0xd3, 0x7b, 0xbb, 0xc9, 0x43, 0xc1, 0x15, 0xe3, 0xad, 0xf4, 0x77, 0xc7, 0x80, 0x9e,
]);

const SBOX2 = SBOX1.map((x) => ((x << 1) | (x >>> 7)) & 0xff);
const SBOX3 = SBOX1.map((x) => ((x << 7) | (x >>> 1)) & 0xff);
const SBOX4 = Uint8Array.from({ length: 256 }, (_, x) => SBOX1[((x << 1) | (x >>> 7)) & 0xff]!);

/** Sigma1..Sigma6 (section 2.2). */
const SIGMA = [
  0xa09e667f3bcc908bn,
  0xb67ae8584caa73b2n,
  0xc6ef372fe94f82ben,
  0x54ff53a5f1d36f1cn,
  0x10e527fade682d1dn,
  0xb05688c2b3e6c1fdn,
] as const;

const M64 = (1n << 64n) - 1n;
const M128 = (1n << 128n) - 1n;

/** F-function (section 2.4.1) on the 64-bit half (hi, lo) with subkey (kh, kl); result in out[0..1]. */
function fFunc(hi: number, lo: number, kh: number, kl: number, out: Int32Array): void {
  const x = hi ^ kh;
  const y = lo ^ kl;
  const t1 = SBOX1[x >>> 24]!;
  const t2 = SBOX2[(x >>> 16) & 0xff]!;
  const t3 = SBOX3[(x >>> 8) & 0xff]!;
  const t4 = SBOX4[x & 0xff]!;
  const t5 = SBOX2[y >>> 24]!;
  const t6 = SBOX3[(y >>> 16) & 0xff]!;
  const t7 = SBOX4[(y >>> 8) & 0xff]!;
  const t8 = SBOX1[y & 0xff]!;
  // P-function.
  const y1 = t1 ^ t3 ^ t4 ^ t6 ^ t7 ^ t8;
  const y2 = t1 ^ t2 ^ t4 ^ t5 ^ t7 ^ t8;
  const y3 = t1 ^ t2 ^ t3 ^ t5 ^ t6 ^ t8;
  const y4 = t2 ^ t3 ^ t4 ^ t5 ^ t6 ^ t7;
  const y5 = t1 ^ t2 ^ t6 ^ t7 ^ t8;
  const y6 = t2 ^ t3 ^ t5 ^ t7 ^ t8;
  const y7 = t3 ^ t4 ^ t5 ^ t6 ^ t8;
  const y8 = t1 ^ t4 ^ t5 ^ t6 ^ t7;
  out[0] = (y1 << 24) | (y2 << 16) | (y3 << 8) | y4;
  out[1] = (y5 << 24) | (y6 << 16) | (y7 << 8) | y8;
}

/** F on 64-bit BigInts, for the key schedule. */
function fBig(x: bigint, k: bigint): bigint {
  const out = new Int32Array(2);
  fFunc(Number(x >> 32n) | 0, Number(x & 0xffffffffn) | 0, Number(k >> 32n) | 0, Number(k & 0xffffffffn) | 0, out);
  return (BigInt(out[0]! >>> 0) << 32n) | BigInt(out[1]! >>> 0);
}

function rotl128(x: bigint, n: number): bigint {
  if (n === 0) return x;
  const b = BigInt(n);
  return ((x << b) | (x >> (128n - b))) & M128;
}

function big(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/**
 * Subkeys in the order one pass consumes them (section 2.4.2 and 2.3):
 * [pre-whitening 2] [6 round keys, FL key, FL^-1 key]... [6 round keys] [post-whitening 2],
 * each a 64-bit value stored as two words. Decryption uses the same pass with the order reversed.
 */
function camelliaSubkeys(key: Uint8Array): { enc: Int32Array; dec: Int32Array; groups: number } {
  const kl = big(key.subarray(0, 16));
  let kr = 0n;
  if (key.length === 24) {
    const r = big(key.subarray(16, 24));
    kr = (r << 64n) | (~r & M64);
  } else if (key.length === 32) kr = big(key.subarray(16, 32));
  // KA and KB (section 2.2).
  let d1 = (kl ^ kr) >> 64n;
  let d2 = (kl ^ kr) & M64;
  d2 ^= fBig(d1, SIGMA[0]);
  d1 ^= fBig(d2, SIGMA[1]);
  d1 ^= kl >> 64n;
  d2 ^= kl & M64;
  d2 ^= fBig(d1, SIGMA[2]);
  d1 ^= fBig(d2, SIGMA[3]);
  const ka = (d1 << 64n) | d2;
  d1 = (ka ^ kr) >> 64n;
  d2 = (ka ^ kr) & M64;
  d2 ^= fBig(d1, SIGMA[4]);
  d1 ^= fBig(d2, SIGMA[5]);
  const kb = (d1 << 64n) | d2;

  const halves = (x: bigint, n: number): [bigint, bigint] => {
    const r = rotl128(x, n);
    return [r >> 64n, r & M64];
  };
  // Each entry: [source, rotation]; both 64-bit halves are taken, left then right, except where
  // section 2.4.2 takes only one half (k9/k10 for 128-bit keys).
  let seq: bigint[];
  if (key.length === 16) {
    const [kw1, kw2] = halves(kl, 0);
    const [k1, k2] = halves(ka, 0);
    const [k3, k4] = halves(kl, 15);
    const [k5, k6] = halves(ka, 15);
    const [ke1, ke2] = halves(ka, 30);
    const [k7, k8] = halves(kl, 45);
    const [k9] = halves(ka, 45);
    const [, k10] = halves(kl, 60);
    const [k11, k12] = halves(ka, 60);
    const [ke3, ke4] = halves(kl, 77);
    const [k13, k14] = halves(kl, 94);
    const [k15, k16] = halves(ka, 94);
    const [k17, k18] = halves(kl, 111);
    const [kw3, kw4] = halves(ka, 111);
    seq = [kw1, kw2, k1, k2, k3, k4, k5, k6, ke1, ke2, k7, k8, k9, k10, k11, k12, ke3, ke4, k13, k14, k15, k16, k17, k18, kw3, kw4];
  } else {
    const [kw1, kw2] = halves(kl, 0);
    const [k1, k2] = halves(kb, 0);
    const [k3, k4] = halves(kr, 15);
    const [k5, k6] = halves(ka, 15);
    const [ke1, ke2] = halves(kr, 30);
    const [k7, k8] = halves(kb, 30);
    const [k9, k10] = halves(kl, 45);
    const [k11, k12] = halves(ka, 45);
    const [ke3, ke4] = halves(kl, 60);
    const [k13, k14] = halves(kr, 60);
    const [k15, k16] = halves(kb, 60);
    const [k17, k18] = halves(kl, 77);
    const [ke5, ke6] = halves(ka, 77);
    const [k19, k20] = halves(kr, 94);
    const [k21, k22] = halves(ka, 94);
    const [k23, k24] = halves(kl, 111);
    const [kw3, kw4] = halves(kb, 111);
    seq = [
      kw1, kw2, k1, k2, k3, k4, k5, k6, ke1, ke2, k7, k8, k9, k10, k11, k12, ke3, ke4,
      k13, k14, k15, k16, k17, k18, ke5, ke6, k19, k20, k21, k22, k23, k24, kw3, kw4,
    ];
  }
  const groups = key.length === 16 ? 3 : 4;
  // Decryption order (section 2.3.2): kw1<->kw3, kw2<->kw4, k1<->k18, ..., ke1<->ke4, ke2<->ke3;
  // the reversed list has everything in place except the two whitening pairs.
  const rev = seq.slice().reverse();
  const dec = [rev[1]!, rev[0]!];
  let i = 2;
  for (let g = 0; g < groups; g++) {
    for (let r = 0; r < 6; r++) dec.push(rev[i++]!);
    if (g < groups - 1) {
      dec.push(rev[i]!, rev[i + 1]!);
      i += 2;
    }
  }
  dec.push(rev[i + 1]!, rev[i]!);
  const pack = (v: bigint[]): Int32Array => {
    const out = new Int32Array(2 * v.length);
    v.forEach((x, j) => {
      out[2 * j] = Number(x >> 32n) | 0;
      out[2 * j + 1] = Number(x & 0xffffffffn) | 0;
    });
    return out;
  };
  return { enc: pack(seq), dec: pack(dec), groups };
}

class CamelliaTs implements BlockCipher {
  readonly blockSize = 16;
  #keys: { enc: Int32Array; dec: Int32Array; groups: number } | undefined;
  readonly #f = new Int32Array(2);

  constructor(key: Uint8Array) {
    this.#keys = camelliaSubkeys(key);
  }

  encryptBlocks(src: Uint8Array, dst: Uint8Array): void {
    const keys = this.#keys;
    if (!keys) throw wipedError('camellia');
    this.#run(keys.enc, keys.groups, src, dst);
  }

  decryptBlocks(src: Uint8Array, dst: Uint8Array): void {
    const keys = this.#keys;
    if (!keys) throw wipedError('camellia');
    this.#run(keys.dec, keys.groups, src, dst);
  }

  /** One pass (section 2.3.1): 18 or 24 Feistel rounds with FL/FL^-1 layers every six. */
  #run(k: Int32Array, groups: number, src: Uint8Array, dst: Uint8Array): void {
    checkBlocks('camellia', 16, src, dst);
    const f = this.#f;
    for (let o = 0; o < src.length; o += 16) {
      let d1h = be32(src, o) ^ k[0]!;
      let d1l = be32(src, o + 4) ^ k[1]!;
      let d2h = be32(src, o + 8) ^ k[2]!;
      let d2l = be32(src, o + 12) ^ k[3]!;
      let p = 4;
      for (let g = 0; g < groups; g++) {
        for (let r = 0; r < 3; r++) {
          fFunc(d1h, d1l, k[p]!, k[p + 1]!, f);
          d2h ^= f[0]!;
          d2l ^= f[1]!;
          fFunc(d2h, d2l, k[p + 2]!, k[p + 3]!, f);
          d1h ^= f[0]!;
          d1l ^= f[1]!;
          p += 4;
        }
        if (g < groups - 1) {
          // FL on D1 with (kL, kR) = k[p], k[p+1]; FL^-1 on D2 with k[p+2], k[p+3] (section 2.4.3).
          let t = d1h & k[p]!;
          d1l ^= (t << 1) | (t >>> 31);
          d1h ^= d1l | k[p + 1]!;
          d2h ^= d2l | k[p + 3]!;
          t = d2h & k[p + 2]!;
          d2l ^= (t << 1) | (t >>> 31);
          p += 4;
        }
      }
      putBe32(dst, o, d2h ^ k[p]!);
      putBe32(dst, o + 4, d2l ^ k[p + 1]!);
      putBe32(dst, o + 8, d1h ^ k[p + 2]!);
      putBe32(dst, o + 12, d1l ^ k[p + 3]!);
    }
  }

  wipe(): void {
    this.#keys?.enc.fill(0);
    this.#keys?.dec.fill(0);
    this.#keys = undefined;
  }
}

/** The TypeScript Camellia (always available; the fallback when OpenSSL lacks camellia). */
export const camelliaTs: BlockCipherAlgorithm = {
  name: 'camellia',
  blockSize: 16,
  keySizes: CAMELLIA_KEY_SIZES,
  create(key: Uint8Array): BlockCipher {
    checkKeySize('camellia', CAMELLIA_KEY_SIZES, key);
    return new CamelliaTs(key);
  },
};

/** OpenSSL's Camellia, when present. */
export const camelliaOpenssl: BlockCipherAlgorithm | undefined = opensslHas('camellia', CAMELLIA_KEY_SIZES)
  ? nodeEcbAlgorithm('camellia', 'camellia', CAMELLIA_KEY_SIZES)
  : undefined;

export const camellia: BlockCipherAlgorithm = camelliaOpenssl ?? camelliaTs;
