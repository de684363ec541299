// LRW (Liskov, Rivest, Wagner; IEEE P1619 draft "LRW-AES") as crypto/lrw.c. The key is a cipher
// key followed by a 16-byte tweak key K2 (lrw_setkey takes the last 16 bytes); the 16-byte IV is
// the big-endian 128-bit index I of the sector's first block, and block j of the sector uses
//
//   T_j = K2 (x) (I + j)   in GF(2^128), "bbe" order (big-endian bytes and bits, reduction 0x87),
//   C_j = E_K1(P_j ^ T_j) ^ T_j.
//
// As in the kernel, T_0 comes from a 64 KiB table of K2 times every byte value at every
// position, and the next tweak from T_{j+1} = T_j ^ K2 (x) (2^(k+1) - 1) where k is the number of
// trailing one bits of I + j (incrementing flips exactly those bits and the zero above them;
// lrw_next_index). Wrapping from all ones to zero uses k = 127, also as the kernel does.
//
// The tables hold the tweaks in "memory form": the words a little-endian Uint32Array view reads
// from the big-endian bytes, so tweaks XOR straight into the data words.

import type { BlockCipher, BlockCipherAlgorithm, Skcipher, SkcipherAlgorithm } from '../types.js';
import { wipedError } from '../ciphers/common.js';
import {
  CHUNK,
  Scratch,
  aligned,
  bulkDecrypt,
  bulkEncrypt,
  checkModeKey,
  checkRequest,
  release,
  requireLittleEndian,
  resultWords,
  wordsOf,
  type BulkEcb,
} from './common.js';
import { xorInto, xorWith } from './xts.js';

function bswap(x: number): number {
  return ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);
}

/** v * x in GF(2^128), "bbe" order; v is four big-endian words (v[0] most significant). */
export function gfMulXBbe(v: Int32Array): void {
  const carry = (v[0]! >> 31) & 0x87;
  v[0] = (v[0]! << 1) | (v[1]! >>> 31);
  v[1] = (v[1]! << 1) | (v[2]! >>> 31);
  v[2] = (v[2]! << 1) | (v[3]! >>> 31);
  v[3] = (v[3]! << 1) ^ carry;
}

/** a (x) b in GF(2^128), "bbe" order, bit by bit (gf128mul_bbe); for tables and tests. */
export function gfMulBbe(a: Uint8Array, b: Uint8Array): Uint8Array {
  const v = new Int32Array(4);
  for (let i = 0; i < 4; i++) v[i] = (a[4 * i]! << 24) | (a[4 * i + 1]! << 16) | (a[4 * i + 2]! << 8) | a[4 * i + 3]!;
  const r = new Int32Array(4);
  // Bit 0 of byte 15 is the coefficient of x^0; walk b's bits from x^0 upward.
  for (let bit = 0; bit < 128; bit++) {
    if ((b[15 - (bit >>> 3)]! >>> (bit & 7)) & 1) for (let i = 0; i < 4; i++) r[i] = r[i]! ^ v[i]!;
    gfMulXBbe(v);
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 4; i++) {
    out[4 * i] = r[i]! >>> 24;
    out[4 * i + 1] = r[i]! >>> 16;
    out[4 * i + 2] = r[i]! >>> 8;
    out[4 * i + 3] = r[i]!;
  }
  return out;
}

interface LrwTables {
  /** K2 (x) (v at byte position p), memory form, at 4 * (256 * p + v). */
  readonly mul: Uint32Array;
  /** K2 (x) (2^(k+1) - 1), memory form, at 4k. */
  readonly inc: Uint32Array;
}

/** The kernel's 64k table (gf128mul_init_64k_bbe) and mulinc[] for tweak key K2. */
export function lrwTables(k2: Uint8Array): LrwTables {
  const mul = new Uint32Array(4 * 256 * 16);
  const inc = new Uint32Array(4 * 128);
  // pow = K2 (x) x^e, stepping e = 0..127; byte position p = 15 - (e >> 3), bit e & 7.
  const pow = new Int32Array(4);
  for (let i = 0; i < 4; i++) pow[i] = (k2[4 * i]! << 24) | (k2[4 * i + 1]! << 16) | (k2[4 * i + 2]! << 8) | k2[4 * i + 3]!;
  const acc = new Int32Array(4);
  for (let e = 0; e < 128; e++) {
    const p = 15 - (e >>> 3);
    const bit = 1 << (e & 7);
    // Every byte value with this bit as its highest set bit: table[v] = table[v ^ bit] ^ pow.
    for (let v = bit; v < 2 * bit; v++) {
      const dst = 4 * (256 * p + v);
      const src = 4 * (256 * p + (v ^ bit));
      for (let i = 0; i < 4; i++) mul[dst + i] = mul[src + i]! ^ bswap(pow[i]!);
    }
    for (let i = 0; i < 4; i++) {
      acc[i] = acc[i]! ^ pow[i]!;
      inc[4 * e + i] = bswap(acc[i]!);
    }
    gfMulXBbe(pow);
  }
  pow.fill(0);
  acc.fill(0);
  return { mul, inc };
}

/** Trailing zero bits of a nonzero 32-bit value. */
function ctz(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/**
 * Fills tw[0 .. count*sectorWords) with the tweaks of `count` sectors whose indices are the
 * 16-byte big-endian IVs at ivs[16*first ..].
 */
export function lrwTweaks(
  tables: LrwTables,
  tw: Uint32Array,
  ivs: Uint8Array,
  first: number,
  count: number,
  sectorWords: number,
): void {
  const { mul, inc } = tables;
  let i = 0;
  for (let s = 0; s < count; s++) {
    const v = 16 * (first + s);
    // T0 = K2 (x) I from the byte tables.
    let t0 = 0;
    let t1 = 0;
    let t2 = 0;
    let t3 = 0;
    for (let p = 0; p < 16; p++) {
      const e = 4 * (256 * p + ivs[v + p]!);
      t0 ^= mul[e]!;
      t1 ^= mul[e + 1]!;
      t2 ^= mul[e + 2]!;
      t3 ^= mul[e + 3]!;
    }
    // The counter I as big-endian words, c0 most significant.
    let c0 = (ivs[v]! << 24) | (ivs[v + 1]! << 16) | (ivs[v + 2]! << 8) | ivs[v + 3]!;
    let c1 = (ivs[v + 4]! << 24) | (ivs[v + 5]! << 16) | (ivs[v + 6]! << 8) | ivs[v + 7]!;
    let c2 = (ivs[v + 8]! << 24) | (ivs[v + 9]! << 16) | (ivs[v + 10]! << 8) | ivs[v + 11]!;
    let c3 = (ivs[v + 12]! << 24) | (ivs[v + 13]! << 16) | (ivs[v + 14]! << 8) | ivs[v + 15]!;
    const end = i + sectorWords;
    for (; i < end; i += 4) {
      tw[i] = t0;
      tw[i + 1] = t1;
      tw[i + 2] = t2;
      tw[i + 3] = t3;
      // lrw_next_index: k = trailing ones of the counter, then increment it.
      let k: number;
      if (c3 !== -1) {
        k = ctz(~c3);
        c3 = (c3 + 1) | 0;
      } else if (c2 !== -1) {
        k = 32 + ctz(~c2);
        c2 = (c2 + 1) | 0;
        c3 = 0;
      } else if (c1 !== -1) {
        k = 64 + ctz(~c1);
        c1 = (c1 + 1) | 0;
        c2 = c3 = 0;
      } else if (c0 !== -1) {
        k = 96 + ctz(~c0);
        c0 = (c0 + 1) | 0;
        c1 = c2 = c3 = 0;
      } else {
        k = 127;
        c0 = c1 = c2 = c3 = 0;
      }
      t0 ^= inc[4 * k]!;
      t1 ^= inc[4 * k + 1]!;
      t2 ^= inc[4 * k + 2]!;
      t3 ^= inc[4 * k + 3]!;
    }
  }
}

class Lrw implements Skcipher {
  readonly ivSize = 16;
  readonly blockSize = 16;
  readonly #name: string;
  #cipher: BlockCipher | undefined;
  #tables: LrwTables | undefined;
  readonly #enc: BulkEcb;
  readonly #dec: BulkEcb;
  readonly #tw = new Scratch();
  readonly #out = new Scratch();
  readonly #align = new Scratch();

  constructor(name: string, cipher: BlockCipherAlgorithm, key: Uint8Array) {
    this.#name = name;
    const split = key.length - 16;
    this.#cipher = cipher.create(key.subarray(0, split));
    this.#tables = lrwTables(key.subarray(split));
    this.#enc = bulkEncrypt(this.#cipher);
    this.#dec = bulkDecrypt(this.#cipher);
  }

  encrypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array): void {
    this.#crypt(data, sectorSize, ivs, this.#enc);
  }

  decrypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array): void {
    this.#crypt(data, sectorSize, ivs, this.#dec);
  }

  #crypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array, bulk: BulkEcb): void {
    const tables = this.#tables;
    if (!tables || !this.#cipher) throw wipedError(this.#name);
    const n = checkRequest(this.#name, 16, 16, data, sectorSize, ivs);
    if (n === 0) return;
    const perChunk = Math.max(1, Math.floor(CHUNK / sectorSize));
    const sectorWords = sectorSize >>> 2;
    const tw = this.#tw.get(Math.min(n, perChunk) * sectorSize);
    const d = aligned(data, this.#align);
    const dw = wordsOf(d);
    for (let s = 0; s < n; s += perChunk) {
      const count = Math.min(perChunk, n - s);
      const off = s * sectorSize;
      const len = count * sectorSize;
      const dOff = off >>> 2;
      lrwTweaks(tables, tw, ivs, s, count, sectorWords);
      xorWith(dw, dOff, tw, len >>> 2);
      const src = d.subarray(off, off + len);
      const out = bulk(src);
      xorInto(dw, dOff, out === src ? dw.subarray(dOff, dOff + (len >>> 2)) : resultWords(out, this.#out), tw, len >>> 2);
    }
    release(data, d);
  }

  wipe(): void {
    this.#cipher?.wipe();
    this.#cipher = undefined;
    this.#tables?.mul.fill(0);
    this.#tables?.inc.fill(0);
    this.#tables = undefined;
    this.#tw.wipe();
    this.#out.wipe();
  }
}

/** The `lrw` template: needs a 16-byte block cipher; keys are a cipher key plus 16 bytes. */
export function lrwTemplate(cipher: BlockCipherAlgorithm): SkcipherAlgorithm | undefined {
  if (cipher.blockSize !== 16) return undefined;
  const name = `lrw(${cipher.name})`;
  const keySizes = cipher.keySizes.map((k) => k + 16);
  return {
    name,
    ivSize: 16,
    blockSize: 16,
    keySizes,
    create(key: Uint8Array): Skcipher {
      requireLittleEndian(name);
      checkModeKey(name, keySizes, key);
      return new Lrw(name, cipher, key);
    },
  };
}
