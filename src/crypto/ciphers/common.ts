// Shared checks for block ciphers: key sizes as the kernel's setkey functions accept them
// (-EINVAL otherwise) and whole-block ECB buffers.

import { UcryptError } from '../../errors.js';

/** Throws the kernel's -EINVAL for a key length `algo` does not accept. Never shows the key. */
export function checkKeySize(algo: string, accepted: readonly number[], key: Uint8Array): void {
  if (!accepted.includes(key.length)) {
    throw new UcryptError(
      'ERR_BAD_ARGUMENT',
      'EINVAL',
      `${algo}: a ${key.length}-byte key is not accepted (key sizes: ${describeSizes(accepted)} bytes)`,
      { algorithm: algo, keySize: key.length },
    );
  }
}

/** `16, 24, 32` or `0..32` for long contiguous runs. */
export function describeSizes(sizes: readonly number[]): string {
  if (sizes.length > 4) {
    const step = sizes[1]! - sizes[0]!;
    const contiguous = sizes.every((s, i) => i === 0 || s - sizes[i - 1]! === step);
    if (contiguous) return `${sizes[0]}..${sizes[sizes.length - 1]}${step === 1 ? '' : ` in steps of ${step}`}`;
  }
  return sizes.join(', ');
}

/** An inclusive range of key sizes. */
export function sizeRange(min: number, max: number, step = 1): number[] {
  const out: number[] = [];
  for (let n = min; n <= max; n += step) out.push(n);
  return out;
}

/** ECB buffers: same length, whole blocks. */
export function checkBlocks(algo: string, blockSize: number, src: Uint8Array, dst: Uint8Array): void {
  if (src.length !== dst.length || src.length % blockSize !== 0) {
    throw new UcryptError(
      'ERR_BAD_ARGUMENT',
      'EINVAL',
      `${algo}: ECB needs source and destination of equal length in whole ${blockSize}-byte blocks (got ${src.length} and ${dst.length})`,
      { algorithm: algo, srcLength: src.length, dstLength: dst.length },
    );
  }
}

export function wipedError(algo: string): UcryptError {
  return new UcryptError('ERR_BAD_ARGUMENT', 'EINVAL', `${algo}: the key was wiped; set a new key before using the cipher`, {
    algorithm: algo,
  });
}

/** Little-endian 32-bit word at byte offset o. */
export function le32(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24);
}

export function putLe32(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}

/** Big-endian 32-bit word at byte offset o. */
export function be32(b: Uint8Array, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}

export function putBe32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}
