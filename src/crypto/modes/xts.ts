// XTS (IEEE Std 1619-2007; NIST SP 800-38E) as crypto/xts.c: the key is two cipher keys, the
// first half for the data and the second for the tweak (xts_setkey); the 16-byte IV is the tweak
// input i, T = E_K2(i), block j of a sector uses T * x^j in GF(2^128) (little-endian "ble" bit
// order, reduction 0x87), and C_j = E_K1(P_j ^ T_j) ^ T_j. Identical halves are accepted, as by
// the kernel outside FIPS mode (xts_verify_key). Sectors are whole blocks, which is all dm-crypt
// sends, so there is no ciphertext stealing.
//
// Per batch (no per-sector cipher calls):
//
//   ivs --ECB E_K2, one call--> T0 per sector
//   for each chunk of whole sectors (~64 KiB, cache-resident):
//     pass 1: T_j = T0 * x^j into a tweak buffer, then XORed into the data       (JS, u32)
//     bulk:   ECB E_K1 over the whole chunk                                    (one call)
//     pass 2: data = ECB result ^ tweak buffer                                  (JS, u32)
//
// With an OpenSSL-backed cipher the bulk step returns a new Buffer (node:crypto has no update
// into a given buffer) and pass 2 writes the result straight into the caller's data.

import type { BlockCipher, BlockCipherAlgorithm, Skcipher, SkcipherAlgorithm } from '../types.js';
import { wipedError } from '../ciphers/common.js';
import {
  CHUNK,
  Scratch,
  bulkDecrypt,
  bulkEncrypt,
  checkModeKey,
  checkRequest,
  requireLittleEndian,
  aligned,
  release,
  resultWords,
  wordsOf,
  type BulkEcb,
} from './common.js';

/**
 * Pass 1a for `count` sectors: fills tw[0 .. count*sectorWords) with the tweak of every block,
 * T_j = T0 * x^j. t0 holds T0 of the first of these sectors at word t0Off. (Generating the tweaks
 * and XORing them in separate tight loops measured faster than one fused loop.)
 */
export function xtsTweaks(tw: Uint32Array, t0: Uint32Array, t0Off: number, count: number, sectorWords: number): void {
  let i = 0;
  const limit = Math.min(count * sectorWords, tw.length);
  for (let s = 0; s < count && i < limit; s++) {
    let w0 = t0[t0Off + 4 * s]! | 0;
    let w1 = t0[t0Off + 4 * s + 1]! | 0;
    let w2 = t0[t0Off + 4 * s + 2]! | 0;
    let w3 = t0[t0Off + 4 * s + 3]! | 0;
    const end = Math.min(i + sectorWords, limit);
    for (; i < end; i += 4) {
      tw[i] = w0;
      tw[i + 1] = w1;
      tw[i + 2] = w2;
      tw[i + 3] = w3;
      // T * x: shift the 128-bit little-endian value left by one, fold the carry with 0x87.
      const carry = (w3 >> 31) & 0x87;
      w3 = (w3 << 1) | (w2 >>> 31);
      w2 = (w2 << 1) | (w1 >>> 31);
      w1 = (w1 << 1) | (w0 >>> 31);
      w0 = (w0 << 1) ^ carry;
    }
  }
}

/** d[dOff + i] ^= tw[i] for i < n (n a multiple of 4). */
export function xorWith(d: Uint32Array, dOff: number, tw: Uint32Array, n: number): void {
  // Clamping the bound lets V8 drop the bounds checks (measured ~10% faster).
  n = Math.min(n, tw.length, d.length - dOff);
  for (let i = 0; i < n; i += 4) {
    const o = dOff + i;
    d[o] = d[o]! ^ tw[i]!;
    d[o + 1] = d[o + 1]! ^ tw[i + 1]!;
    d[o + 2] = d[o + 2]! ^ tw[i + 2]!;
    d[o + 3] = d[o + 3]! ^ tw[i + 3]!;
  }
}

/** d[dOff + i] = r[i] ^ tw[i] for i < n (n a multiple of 4). */
export function xorInto(d: Uint32Array, dOff: number, r: Uint32Array, tw: Uint32Array, n: number): void {
  n = Math.min(n, r.length, tw.length, d.length - dOff);
  for (let i = 0; i < n; i += 4) {
    const o = dOff + i;
    d[o] = r[i]! ^ tw[i]!;
    d[o + 1] = r[i + 1]! ^ tw[i + 1]!;
    d[o + 2] = r[i + 2]! ^ tw[i + 2]!;
    d[o + 3] = r[i + 3]! ^ tw[i + 3]!;
  }
}

/** The chunk loop of one request (module-level so V8 optimizes it on its own). */
function xtsChunks(d: Uint8Array, n: number, sectorSize: number, t0: Uint32Array, tw: Uint32Array, bulk: BulkEcb, outScratch: Scratch): void {
  const dw = wordsOf(d);
  const perChunk = Math.max(1, Math.floor(CHUNK / sectorSize));
  const sectorWords = sectorSize >>> 2;
  for (let s = 0; s < n; s += perChunk) {
    const count = Math.min(perChunk, n - s);
    const off = s * sectorSize;
    const len = count * sectorSize;
    const dOff = off >>> 2;
    xtsTweaks(tw, t0, 4 * s, count, sectorWords);
    xorWith(dw, dOff, tw, len >>> 2);
    const src = d.subarray(off, off + len);
    const out = bulk(src);
    xorInto(dw, dOff, out === src ? dw.subarray(dOff, dOff + (len >>> 2)) : resultWords(out, outScratch), tw, len >>> 2);
  }
}

class Xts implements Skcipher {
  readonly ivSize = 16;
  readonly blockSize = 16;
  readonly #name: string;
  #data: BlockCipher | undefined;
  #tweak: BlockCipher | undefined;
  readonly #enc: BulkEcb;
  readonly #dec: BulkEcb;
  readonly #t0 = new Scratch();
  readonly #tw = new Scratch();
  readonly #out = new Scratch();
  readonly #align = new Scratch();

  constructor(name: string, cipher: BlockCipherAlgorithm, key: Uint8Array) {
    this.#name = name;
    const half = key.length / 2;
    this.#data = cipher.create(key.subarray(0, half));
    this.#tweak = cipher.create(key.subarray(half));
    this.#enc = bulkEncrypt(this.#data);
    this.#dec = bulkDecrypt(this.#data);
  }

  encrypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array): void {
    this.#crypt(data, sectorSize, ivs, this.#enc);
  }

  decrypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array): void {
    this.#crypt(data, sectorSize, ivs, this.#dec);
  }

  #crypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array, bulk: BulkEcb): void {
    const tweak = this.#tweak;
    if (!tweak || !this.#data) throw wipedError(this.#name);
    const n = checkRequest(this.#name, 16, 16, data, sectorSize, ivs);
    if (n === 0) return;
    // T0 for every sector in one ECB call.
    const t0 = this.#t0.get(16 * n);
    const t0Bytes = this.#t0.bytes.subarray(0, 16 * n);
    tweak.encryptBlocks(ivs.subarray(0, 16 * n), t0Bytes);
    const tw = this.#tw.get(Math.min(n, Math.max(1, Math.floor(CHUNK / sectorSize))) * sectorSize);
    const d = aligned(data, this.#align);
    xtsChunks(d, n, sectorSize, t0, tw, bulk, this.#out);
    release(data, d);
  }

  wipe(): void {
    this.#data?.wipe();
    this.#tweak?.wipe();
    this.#data = undefined;
    this.#tweak = undefined;
    this.#t0.wipe();
    this.#tw.wipe();
    this.#out.wipe();
  }
}

/** The `xts` template: needs a 16-byte block cipher; keys are two cipher keys. */
export function xtsTemplate(cipher: BlockCipherAlgorithm): SkcipherAlgorithm | undefined {
  if (cipher.blockSize !== 16) return undefined;
  const name = `xts(${cipher.name})`;
  const keySizes = cipher.keySizes.map((k) => 2 * k);
  return {
    name,
    ivSize: 16,
    blockSize: 16,
    keySizes,
    create(key: Uint8Array): Skcipher {
      requireLittleEndian(name);
      checkModeKey(name, keySizes, key);
      return new Xts(name, cipher, key);
    },
  };
}
