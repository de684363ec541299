// Byte helpers for block device tests: deterministic patterns and a comparison that reports the
// first differing offset instead of dumping megabytes of diff.

import assert from 'node:assert/strict';

/** Deterministic pseudo-random bytes (xorshift32), different for each seed. */
export function pattern(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 0x9e3779b1) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** A buffer of `length` bytes all equal to `value`. */
export function filled(length: number, value: number): Uint8Array {
  return new Uint8Array(length).fill(value);
}

/** Asserts two byte ranges are identical, naming the first differing index. */
export function assertBytes(actual: Uint8Array, expected: Uint8Array, what = 'bytes'): void {
  assert.equal(actual.length, expected.length, `${what}: length ${actual.length}, expected ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      assert.fail(`${what}: first difference at index ${i}: got ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

/** Asserts every byte equals `value` (zero by default), naming the first one that does not. */
export function assertAll(actual: ArrayLike<number>, value = 0, what = 'bytes'): void {
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== value) assert.fail(`${what}: byte ${i} is ${actual[i]}, expected ${value}`);
  }
}
