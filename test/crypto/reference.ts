// Slow, spec-literal reference modes for the tests: one block at a time through a fresh 16-byte
// buffer, written from the specifications independently of src/crypto/modes (different GF(2^128)
// arithmetic: byte-wise for XTS, BigInt for LRW). DESIGN.md: every suite runs against every
// implementation; these are the "reference path" the batched modes are compared with.

import type { BlockCipher, BlockCipherAlgorithm } from '../../src/crypto/types.js';

function blockOp(cipher: BlockCipher, block: Uint8Array, decrypt: boolean): Uint8Array {
  const b = Uint8Array.from(block);
  if (decrypt) cipher.decryptBlocks(b, b);
  else cipher.encryptBlocks(b, b);
  return b;
}

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  return a.map((x, i) => x ^ b[i]!);
}

export function refEcb(algo: BlockCipherAlgorithm, key: Uint8Array, data: Uint8Array, decrypt: boolean): Uint8Array {
  const c = algo.create(key);
  const bs = algo.blockSize;
  const out = new Uint8Array(data.length);
  for (let o = 0; o < data.length; o += bs) out.set(blockOp(c, data.subarray(o, o + bs), decrypt), o);
  return out;
}

/** SP 800-38A 6.2: C_j = E(P_j ^ C_{j-1}), C_{-1} = IV; P_j = D(C_j) ^ C_{j-1}. */
export function refCbc(
  algo: BlockCipherAlgorithm,
  key: Uint8Array,
  data: Uint8Array,
  sectorSize: number,
  ivs: Uint8Array,
  decrypt: boolean,
): Uint8Array {
  const c = algo.create(key);
  const bs = algo.blockSize;
  const out = new Uint8Array(data.length);
  for (let s = 0; s < data.length / sectorSize; s++) {
    let prev: Uint8Array = ivs.slice(s * bs, s * bs + bs);
    for (let o = s * sectorSize; o < (s + 1) * sectorSize; o += bs) {
      const inBlock = data.subarray(o, o + bs);
      if (decrypt) {
        out.set(xor(blockOp(c, inBlock, true), prev), o);
        prev = inBlock.slice();
      } else {
        const ct = blockOp(c, xor(inBlock, prev), false);
        out.set(ct, o);
        prev = ct;
      }
    }
  }
  return out;
}

/** IEEE 1619-2007 5.2: multiply the 16-byte little-endian tweak by alpha. */
function mulAlpha(t: Uint8Array): void {
  let carry = 0;
  for (let k = 0; k < 16; k++) {
    const next = t[k]! >>> 7;
    t[k] = ((t[k]! << 1) & 0xff) | carry;
    carry = next;
  }
  if (carry) t[0] = t[0]! ^ 0x87;
}

/** IEEE 1619-2007 5.3.1/5.4.1 for whole blocks; key = Key1 || Key2. */
export function refXts(
  algo: BlockCipherAlgorithm,
  key: Uint8Array,
  data: Uint8Array,
  sectorSize: number,
  ivs: Uint8Array,
  decrypt: boolean,
): Uint8Array {
  const k1 = algo.create(key.subarray(0, key.length / 2));
  const k2 = algo.create(key.subarray(key.length / 2));
  const out = new Uint8Array(data.length);
  for (let s = 0; s < data.length / sectorSize; s++) {
    const t = blockOp(k2, ivs.subarray(16 * s, 16 * s + 16), false);
    for (let o = s * sectorSize; o < (s + 1) * sectorSize; o += 16) {
      const pp = xor(data.subarray(o, o + 16), t);
      out.set(xor(blockOp(k1, pp, decrypt), t), o);
      mulAlpha(t);
    }
  }
  return out;
}

const M128 = (1n << 128n) - 1n;

function toBig(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

function fromBig(v: bigint): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 15; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** a * b in GF(2^128) = GF(2)[x]/(x^128 + x^7 + x^2 + x + 1), coefficients as big-endian integers. */
export function gfMulBig(a: bigint, b: bigint): bigint {
  let r = 0n;
  for (let i = 127; i >= 0; i--) {
    r = ((r << 1n) & M128) ^ (r >> 127n ? 0x87n : 0n);
    if ((b >> BigInt(i)) & 1n) r ^= a;
  }
  return r;
}

/** LRW: T_j = K2 * (I + j); key = K1 || K2 (16 bytes); IV = I as a 128-bit big-endian integer. */
export function refLrw(
  algo: BlockCipherAlgorithm,
  key: Uint8Array,
  data: Uint8Array,
  sectorSize: number,
  ivs: Uint8Array,
  decrypt: boolean,
): Uint8Array {
  const c = algo.create(key.subarray(0, key.length - 16));
  const k2 = toBig(key.subarray(key.length - 16));
  const out = new Uint8Array(data.length);
  for (let s = 0; s < data.length / sectorSize; s++) {
    let index = toBig(ivs.subarray(16 * s, 16 * s + 16));
    for (let o = s * sectorSize; o < (s + 1) * sectorSize; o += 16) {
      const t = fromBig(gfMulBig(k2, index));
      out.set(xor(blockOp(c, xor(data.subarray(o, o + 16), t), decrypt), t), o);
      index = (index + 1n) & M128;
    }
  }
  return out;
}
