// Small helpers for the crypto tests: hex, deterministic bytes, vector files.

import { readFileSync } from 'node:fs';

export function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s, 'hex'));
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}

/** Deterministic pseudo-random bytes (xorshift32), different for each seed. */
export function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (Math.imul(seed, 0x9e3779b1) ^ 0x5bd1e995) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x >>> 24;
  }
  return out;
}

export function readVectors<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`../../../test/vectors/ciphers/${name}`, import.meta.url), 'utf8')) as T;
}

export interface BlockVector {
  readonly source: string;
  readonly key: string;
  readonly plaintext: string;
  readonly ciphertext: string;
}

export interface ModeVector extends BlockVector {
  readonly algorithm: string;
  readonly iv: string;
}
