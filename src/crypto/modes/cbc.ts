// CBC (NIST SP 800-38A section 6.2) as crypto/cbc.c, one chain per sector starting from that
// sector's IV (ivsize = block size). dm-crypt uses it as `cbc-essiv:sha256`, `cbc-plain64`, ...
//
// Decryption is parallel: one bulk ECB decryption per chunk of sectors, then P_j = D(C_j) ^ C_{j-1}
// in a word pass that keeps the previous ciphertext block in registers (so it works in place).
//
// Encryption is sequential within a sector but independent across sectors, so it runs "in
// lanes": step j gathers block j of every sector (XORed with that sector's previous ciphertext
// block) into one buffer, encrypts it with one bulk ECB call and scatters it back. For the
// OpenSSL-backed ciphers small batches instead use one createCipheriv(`<cipher>-cbc`) per sector,
// which OpenSSL runs in one call; cbcUsesLanes() is where the lanes became faster in
// bench/cipher-throughput.ts (each lane step costs one update() call, ~1.5 us, so lanes need
// enough sectors to fill it: AES-256, 512-byte sectors: per-sector ~150 MiB/s, lanes 120 MiB/s at
// 8 sectors and ~1150 MiB/s at 2048; 4096-byte sectors: per-sector ~520 MiB/s, lanes 220 MiB/s
// at 16 sectors and ~850 MiB/s at 256).

import { createCipheriv } from 'node:crypto';
import type { BlockCipher, BlockCipherAlgorithm, Skcipher, SkcipherAlgorithm } from '../types.js';
import { wipedError } from '../ciphers/common.js';
import { NodeEcbCipher } from '../ciphers/node-ecb.js';
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

/** Whether an OpenSSL-backed cipher encrypts a batch of n sectors in lanes (else per sector). */
export function cbcUsesLanes(n: number, sectorSize: number): boolean {
  return n >= 16 && 64 * n >= sectorSize;
}

/** Implementation choice for encryption (tests force each one). */
export type CbcEncryptPath = 'auto' | 'lanes' | 'per-sector';

class Cbc16 implements Skcipher {
  readonly ivSize = 16;
  readonly blockSize = 16;
  readonly #name: string;
  #cipher: BlockCipher | undefined;
  #key: Uint8Array | undefined;
  readonly #enc: BulkEcb;
  readonly #dec: BulkEcb;
  readonly #path: CbcEncryptPath;
  readonly #lanes = new Scratch();
  readonly #out = new Scratch();
  readonly #align = new Scratch();

  constructor(name: string, cipher: BlockCipher, key: Uint8Array, path: CbcEncryptPath) {
    this.#name = name;
    this.#cipher = cipher;
    this.#enc = bulkEncrypt(cipher);
    this.#dec = bulkDecrypt(cipher);
    this.#path = cipher instanceof NodeEcbCipher ? path : 'lanes';
    // Kept only for the per-sector OpenSSL path (createCipheriv needs the raw key).
    if (this.#path !== 'lanes') this.#key = Uint8Array.from(key);
  }

  encrypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array): void {
    const cipher = this.#cipher;
    if (!cipher) throw wipedError(this.#name);
    const n = checkRequest(this.#name, 16, 16, data, sectorSize, ivs);
    if (n === 0) return;
    const perSector = this.#path === 'per-sector' || (this.#path === 'auto' && !cbcUsesLanes(n, sectorSize));
    if (perSector && cipher instanceof NodeEcbCipher && this.#key) {
      this.#encryptPerSector(cipher, this.#key, data, sectorSize, ivs, n);
      return;
    }
    const d = aligned(data, this.#align);
    const dw = wordsOf(d);
    const sectorWords = sectorSize >>> 2;
    // Lane groups small enough for one bulk call each.
    const group = Math.max(1, Math.min(n, CHUNK >>> 4));
    const lanes = this.#lanes.get(16 * group);
    const laneBytes = this.#lanes.bytes;
    for (let s0 = 0; s0 < n; s0 += group) {
      const count = Math.min(group, n - s0);
      const laneView = laneBytes.subarray(0, 16 * count);
      for (let j = 0; j < sectorWords; j += 4) {
        // Gather: lane s = block j of sector s0+s XOR its chaining value.
        for (let s = 0; s < count; s++) {
          const o = (s0 + s) * sectorWords + j;
          const l = 4 * s;
          if (j === 0) {
            const v = 16 * (s0 + s);
            lanes[l] = dw[o]! ^ (ivs[v]! | (ivs[v + 1]! << 8) | (ivs[v + 2]! << 16) | (ivs[v + 3]! << 24));
            lanes[l + 1] = dw[o + 1]! ^ (ivs[v + 4]! | (ivs[v + 5]! << 8) | (ivs[v + 6]! << 16) | (ivs[v + 7]! << 24));
            lanes[l + 2] = dw[o + 2]! ^ (ivs[v + 8]! | (ivs[v + 9]! << 8) | (ivs[v + 10]! << 16) | (ivs[v + 11]! << 24));
            lanes[l + 3] = dw[o + 3]! ^ (ivs[v + 12]! | (ivs[v + 13]! << 8) | (ivs[v + 14]! << 16) | (ivs[v + 15]! << 24));
          } else {
            lanes[l] = dw[o]! ^ dw[o - 4]!;
            lanes[l + 1] = dw[o + 1]! ^ dw[o - 3]!;
            lanes[l + 2] = dw[o + 2]! ^ dw[o - 2]!;
            lanes[l + 3] = dw[o + 3]! ^ dw[o - 1]!;
          }
        }
        const out = this.#enc(laneView);
        const r = out === laneView ? lanes : resultWords(out, this.#out);
        // Scatter the ciphertext blocks back.
        for (let s = 0; s < count; s++) {
          const o = (s0 + s) * sectorWords + j;
          const l = 4 * s;
          dw[o] = r[l]!;
          dw[o + 1] = r[l + 1]!;
          dw[o + 2] = r[l + 2]!;
          dw[o + 3] = r[l + 3]!;
        }
      }
    }
    release(data, d);
  }

  #encryptPerSector(cipher: NodeEcbCipher, key: Uint8Array, data: Uint8Array, sectorSize: number, ivs: Uint8Array, n: number): void {
    const name = `${cipher.opensslPrefix}-cbc`;
    for (let s = 0; s < n; s++) {
      const c = createCipheriv(name, key, ivs.subarray(16 * s, 16 * s + 16));
      c.setAutoPadding(false);
      const off = s * sectorSize;
      data.set(c.update(data.subarray(off, off + sectorSize)), off);
    }
  }

  decrypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array): void {
    const cipher = this.#cipher;
    if (!cipher) throw wipedError(this.#name);
    const n = checkRequest(this.#name, 16, 16, data, sectorSize, ivs);
    if (n === 0) return;
    const d = aligned(data, this.#align);
    const dw = wordsOf(d);
    const perChunk = Math.max(1, Math.floor(CHUNK / sectorSize));
    const sectorWords = sectorSize >>> 2;
    for (let s0 = 0; s0 < n; s0 += perChunk) {
      const count = Math.min(perChunk, n - s0);
      const off = s0 * sectorSize;
      const len = count * sectorSize;
      // The TypeScript ciphers decrypt in place, so decrypt a copy: the ciphertext is the chain.
      let r: Uint32Array;
      if (cipher instanceof NodeEcbCipher) {
        r = resultWords(this.#dec(d.subarray(off, off + len)), this.#out);
      } else {
        r = this.#out.get(len);
        const copy = this.#out.bytes.subarray(0, len);
        copy.set(d.subarray(off, off + len));
        this.#dec(copy);
      }
      for (let s = 0; s < count; s++) {
        const v = 16 * (s0 + s);
        let c0 = ivs[v]! | (ivs[v + 1]! << 8) | (ivs[v + 2]! << 16) | (ivs[v + 3]! << 24);
        let c1 = ivs[v + 4]! | (ivs[v + 5]! << 8) | (ivs[v + 6]! << 16) | (ivs[v + 7]! << 24);
        let c2 = ivs[v + 8]! | (ivs[v + 9]! << 8) | (ivs[v + 10]! << 16) | (ivs[v + 11]! << 24);
        let c3 = ivs[v + 12]! | (ivs[v + 13]! << 8) | (ivs[v + 14]! << 16) | (ivs[v + 15]! << 24);
        const base = (off >>> 2) + s * sectorWords;
        const rb = s * sectorWords;
        for (let i = 0; i < sectorWords; i += 4) {
          const o = base + i;
          const n0 = dw[o]!;
          const n1 = dw[o + 1]!;
          const n2 = dw[o + 2]!;
          const n3 = dw[o + 3]!;
          dw[o] = r[rb + i]! ^ c0;
          dw[o + 1] = r[rb + i + 1]! ^ c1;
          dw[o + 2] = r[rb + i + 2]! ^ c2;
          dw[o + 3] = r[rb + i + 3]! ^ c3;
          c0 = n0;
          c1 = n1;
          c2 = n2;
          c3 = n3;
        }
      }
    }
    release(data, d);
  }

  wipe(): void {
    this.#cipher?.wipe();
    this.#cipher = undefined;
    this.#key?.fill(0);
    this.#key = undefined;
    this.#lanes.wipe();
    this.#out.wipe();
  }
}

/** CBC over any block size (cipher_null has 1-byte blocks): the plain byte-wise form. */
class CbcBytes implements Skcipher {
  readonly ivSize: number;
  readonly blockSize: number;
  readonly #name: string;
  #cipher: BlockCipher | undefined;
  #block: Uint8Array;

  constructor(name: string, cipher: BlockCipher) {
    this.#name = name;
    this.#cipher = cipher;
    this.ivSize = cipher.blockSize;
    this.blockSize = cipher.blockSize;
    this.#block = new Uint8Array(cipher.blockSize);
  }

  encrypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array): void {
    const cipher = this.#cipher;
    if (!cipher) throw wipedError(this.#name);
    const bs = this.blockSize;
    const n = checkRequest(this.#name, bs, bs, data, sectorSize, ivs);
    const b = this.#block;
    for (let s = 0; s < n; s++) {
      for (let o = s * sectorSize, end = o + sectorSize; o < end; o += bs) {
        for (let i = 0; i < bs; i++) b[i] = data[o + i]! ^ (o === s * sectorSize ? ivs[s * bs + i]! : data[o - bs + i]!);
        cipher.encryptBlocks(b, b);
        data.set(b, o);
      }
    }
  }

  decrypt(data: Uint8Array, sectorSize: number, ivs: Uint8Array): void {
    const cipher = this.#cipher;
    if (!cipher) throw wipedError(this.#name);
    const bs = this.blockSize;
    const n = checkRequest(this.#name, bs, bs, data, sectorSize, ivs);
    const b = this.#block;
    for (let s = 0; s < n; s++) {
      // Last block first, so each block's predecessor is still ciphertext.
      for (let o = (s + 1) * sectorSize - bs; o >= s * sectorSize; o -= bs) {
        b.set(data.subarray(o, o + bs));
        cipher.decryptBlocks(b, b);
        for (let i = 0; i < bs; i++) data[o + i] = b[i]! ^ (o === s * sectorSize ? ivs[s * bs + i]! : data[o - bs + i]!);
      }
    }
  }

  wipe(): void {
    this.#cipher?.wipe();
    this.#cipher = undefined;
    this.#block.fill(0);
  }
}

/** The `cbc` template (any power-of-two block size, as crypto/cbc.c). */
export function cbcTemplate(cipher: BlockCipherAlgorithm, path: CbcEncryptPath = 'auto'): SkcipherAlgorithm | undefined {
  const bs = cipher.blockSize;
  if (bs <= 0 || (bs & (bs - 1)) !== 0) return undefined;
  const name = `cbc(${cipher.name})`;
  return {
    name,
    ivSize: bs,
    blockSize: bs,
    keySizes: cipher.keySizes,
    create(key: Uint8Array): Skcipher {
      checkModeKey(name, cipher.keySizes, key);
      const c = cipher.create(key);
      if (bs !== 16) return new CbcBytes(name, c);
      requireLittleEndian(name);
      return new Cbc16(name, c, key, path);
    },
  };
}
