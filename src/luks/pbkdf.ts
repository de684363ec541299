// Key derivation: PBKDF2 (node:crypto, any hash OpenSSL has) and Argon2i/Argon2id (hash-wasm,
// pure WebAssembly: RFC 9106 version 0x13 as cryptsetup's libargon2 computes it), plus the
// iteration benchmark behind --iter-time (cryptsetup lib/utils_benchmark.c: measure, then scale).

import { pbkdf2 as pbkdf2Cb, pbkdf2Sync, getHashes } from 'node:crypto';
import { totalmem } from 'node:os';
import { argon2i, argon2id } from 'hash-wasm';
import { LuksError } from './errors.js';

/** cryptsetup's hash names -> OpenSSL's. */
const NODE_HASH: Record<string, string> = { ripemd160: 'ripemd160', rmd160: 'ripemd160', whirlpool: 'whirlpool' };

let HASHES: Set<string> | undefined;

export function nodeHashName(hash: string): string {
  const name = NODE_HASH[hash.toLowerCase()] ?? hash.toLowerCase();
  HASHES ??= new Set(getHashes());
  if (!HASHES.has(name)) throw new LuksError('ERR_LUKS_UNSUPPORTED', `Requested hash ${hash} is not supported.`);
  return name;
}

export function pbkdf2(hash: string, password: Uint8Array, salt: Uint8Array, iterations: number, length: number): Promise<Uint8Array> {
  const h = nodeHashName(hash);
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > 0x7fffffff) return Promise.reject(new LuksError('ERR_LUKS_UNSUPPORTED', `PBKDF2 iteration count ${iterations} is out of range.`));
  return new Promise((resolve, reject) => {
    pbkdf2Cb(password, salt, iterations, length, h, (err, key) => (err ? reject(err) : resolve(new Uint8Array(key.buffer, key.byteOffset, key.length))));
  });
}

export type KdfType = 'pbkdf2' | 'argon2i' | 'argon2id';

/** A keyslot's KDF as LUKS2 JSON stores it (LUKS1 keyslots are always pbkdf2). */
export type Kdf =
  | { readonly type: 'pbkdf2'; readonly hash: string; readonly iterations: number; readonly salt: Uint8Array }
  | { readonly type: 'argon2i' | 'argon2id'; readonly time: number; readonly memory: number; readonly cpus: number; readonly salt: Uint8Array };

export async function deriveKey(kdf: Kdf, password: Uint8Array, length: number): Promise<Uint8Array> {
  if (kdf.type === 'pbkdf2') return pbkdf2(kdf.hash, password, kdf.salt, kdf.iterations, length);
  // cryptsetup's limits (PBKDF_MAX_MEMORY_KB 4 GiB, at most 16 threads with argon2's own minimum of 8 KiB per lane).
  if (kdf.memory > 4194304 || kdf.cpus > 16 || kdf.memory < 8 * kdf.cpus || kdf.time > 0xffffffff || kdf.salt.length < 8) {
    throw new LuksError('ERR_LUKS_UNSUPPORTED', `Argon2 parameters out of range (time ${kdf.time}, memory ${kdf.memory} KiB, ${kdf.cpus} threads).`);
  }
  const fn = kdf.type === 'argon2i' ? argon2i : argon2id;
  try {
    return await fn({ password, salt: kdf.salt, iterations: kdf.time, memorySize: kdf.memory, parallelism: kdf.cpus, hashLength: length, outputType: 'binary' });
  } catch (e) {
    throw new LuksError('ERR_LUKS_UNSUPPORTED', `Argon2 failed: ${(e as Error).message}.`, 3);
  }
}

/** PBKDF2 iterations per second for `hash` with a key of `keyLength` bytes (one short measurement). */
export function pbkdf2Rate(hash: string, keyLength: number): number {
  const h = nodeHashName(hash);
  const pw = new Uint8Array(32);
  const salt = new Uint8Array(32);
  let iterations = 4096;
  for (;;) {
    const t0 = process.hrtime.bigint();
    pbkdf2Sync(pw, salt, iterations, keyLength, h);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (ms >= 20 || iterations >= 1 << 24) return Math.max(1, Math.floor((iterations * 1000) / Math.max(ms, 0.001)));
    iterations *= 4;
  }
}

/** cryptsetup's minimum PBKDF2 iteration count (LUKS_MKD_ITERATIONS_MIN / pbkdf min). */
export const PBKDF2_MIN_ITERATIONS = 1000;
/** Argon2 minimum time cost cryptsetup uses (PBKDF2_MIN / argon2 min_time). */
export const ARGON2_MIN_TIME = 4;

/** Iterations for `ms` milliseconds of PBKDF2 (at least the minimum). */
export function pbkdf2IterationsFor(hash: string, keyLength: number, ms: number): number {
  return Math.max(PBKDF2_MIN_ITERATIONS, Math.floor((pbkdf2Rate(hash, keyLength) * ms) / 1000));
}

/** Argon2 time cost for `ms` milliseconds at `memory` KiB (at least ARGON2_MIN_TIME). */
export async function argon2TimeFor(type: 'argon2i' | 'argon2id', memory: number, cpus: number, ms: number): Promise<number> {
  return (await argon2CostFor(type, memory, cpus, ms)).time;
}

/**
 * Argon2 costs for `ms` milliseconds, as cryptsetup's benchmark picks them: memory at most the
 * requested amount and half the physical memory; if even the minimum time cost at that memory
 * would take longer than `ms`, the memory shrinks instead (not below 32 KiB per thread).
 */
export async function argon2CostFor(type: 'argon2i' | 'argon2id', memory: number, cpus: number, ms: number): Promise<{ time: number; memory: number }> {
  const fn = type === 'argon2i' ? argon2i : argon2id;
  let mem = Math.min(memory, Math.floor(totalmem() / 2048));
  const t0 = process.hrtime.bigint();
  await fn({ password: 'x', salt: new Uint8Array(16), iterations: 1, memorySize: mem, parallelism: cpus, hashLength: 32, outputType: 'binary' });
  const one = Math.max(Number(process.hrtime.bigint() - t0) / 1e6, 0.001);
  if (ARGON2_MIN_TIME * one > ms) {
    mem = Math.max(32 * cpus, Math.floor((mem * ms) / (ARGON2_MIN_TIME * one)));
    return { time: ARGON2_MIN_TIME, memory: mem };
  }
  return { time: Math.max(ARGON2_MIN_TIME, Math.floor(ms / one)), memory: mem };
}
