// Shared plumbing for the sector modes: request checks, the bulk-ECB adapter that lets one mode
// implementation serve both the TypeScript ciphers (ECB in place) and the OpenSSL-backed ones
// (ECB into a fresh Buffer, whose copy the modes fold into their second XOR pass), and scratch
// buffers that grow once and are reused (DESIGN.md: no per-request allocation where avoidable).

import { UcryptError } from '../../errors.js';
import { CHUNK, NodeEcbCipher } from '../ciphers/node-ecb.js';
import { checkKeySize } from '../ciphers/common.js';
import type { BlockCipher } from '../types.js';

export { CHUNK };

/** True on little-endian hosts; the 32-bit word passes below assume it. */
export const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export function requireLittleEndian(mode: string): void {
  if (!LITTLE_ENDIAN) {
    throw new UcryptError('ERR_NOT_SUPPORTED', 'ENOTSUP', `${mode}: big-endian hosts are not supported`, { mode });
  }
}

/**
 * Validates one batched request and returns the number of sectors: `data` holds whole sectors,
 * each a whole number of cipher blocks, and `ivs` at least one IV per sector (extra bytes are
 * ignored, so callers may pass a pooled buffer).
 */
export function checkRequest(
  mode: string,
  blockSize: number,
  ivSize: number,
  data: Uint8Array,
  sectorSize: number,
  ivs: Uint8Array,
): number {
  if (!Number.isInteger(sectorSize) || sectorSize <= 0 || sectorSize % blockSize !== 0) {
    throw new UcryptError(
      'ERR_BAD_ARGUMENT',
      'EINVAL',
      `${mode}: sector size ${sectorSize} is not a positive multiple of the ${blockSize}-byte block size`,
      { mode, sectorSize },
    );
  }
  if (data.length % sectorSize !== 0) {
    throw new UcryptError(
      'ERR_BAD_ARGUMENT',
      'EINVAL',
      `${mode}: ${data.length} bytes are not a whole number of ${sectorSize}-byte sectors`,
      { mode, length: data.length, sectorSize },
    );
  }
  const n = data.length / sectorSize;
  if (ivs.length < n * ivSize) {
    throw new UcryptError(
      'ERR_BAD_ARGUMENT',
      'EINVAL',
      `${mode}: ${n} sectors need ${n * ivSize} bytes of IVs (${ivSize} per sector), got ${ivs.length}`,
      { mode, sectors: n, ivSize, ivLength: ivs.length },
    );
  }
  return n;
}

export function checkModeKey(name: string, keySizes: readonly number[], key: Uint8Array): void {
  checkKeySize(name, keySizes, key);
}

/** ECB over whole blocks that returns where the result is: `src` itself or a new Buffer. */
export type BulkEcb = (src: Uint8Array) => Uint8Array;

export function bulkEncrypt(cipher: BlockCipher): BulkEcb {
  if (cipher instanceof NodeEcbCipher) return (src) => cipher.encryptToBuffer(src);
  return (src) => {
    cipher.encryptBlocks(src, src);
    return src;
  };
}

export function bulkDecrypt(cipher: BlockCipher): BulkEcb {
  if (cipher instanceof NodeEcbCipher) return (src) => cipher.decryptToBuffer(src);
  return (src) => {
    cipher.decryptBlocks(src, src);
    return src;
  };
}

/** A Uint32Array over the same bytes when 4-byte aligned, else undefined. */
export function words(b: Uint8Array): Uint32Array | undefined {
  return b.byteOffset % 4 === 0 ? new Uint32Array(b.buffer, b.byteOffset, b.length >>> 2) : undefined;
}

/** A growable byte buffer with a word view, reused across requests. */
export class Scratch {
  bytes = new Uint8Array(0);
  words = new Uint32Array(0);

  /** At least n bytes (n a multiple of 4); contents unspecified. */
  get(n: number): Uint32Array {
    if (this.bytes.length < n) {
      this.bytes = new Uint8Array(Math.max(n, 2 * this.bytes.length));
      this.words = new Uint32Array(this.bytes.buffer);
    }
    return this.words;
  }

  wipe(): void {
    this.bytes.fill(0);
  }
}

/**
 * `data` itself when 4-byte aligned, else a copy in `scratch` (the rare path for odd byteOffsets);
 * pair with release() to write the copy back.
 */
export function aligned(data: Uint8Array, scratch: Scratch): Uint8Array {
  if (data.byteOffset % 4 === 0) return data;
  scratch.get(data.length);
  const copy = scratch.bytes.subarray(0, data.length);
  copy.set(data);
  return copy;
}

export function release(data: Uint8Array, view: Uint8Array): void {
  if (view !== data) {
    data.set(view);
    view.fill(0);
  }
}

/** Word view of an aligned byte view. */
export function wordsOf(b: Uint8Array): Uint32Array {
  return new Uint32Array(b.buffer, b.byteOffset, b.length >>> 2);
}

/** Word view of a bulk-ECB result (fresh Buffers from node:crypto start at offset 0). */
export function resultWords(out: Uint8Array, scratch: Scratch): Uint32Array {
  const w = words(out);
  if (w) return w;
  const s = scratch.get(out.length);
  scratch.bytes.set(out);
  return s;
}
