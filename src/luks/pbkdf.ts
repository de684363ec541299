// Key derivation: PBKDF2 (node:crypto, any hash OpenSSL has) and Argon2i/Argon2id (RFC 9106
// version 0x13, as cryptsetup's libargon2 computes it), plus the iteration benchmark behind
// --iter-time (cryptsetup lib/utils_benchmark.c: measure, then scale).
//
// Argon2 backends, loaded on first use (PBKDF2-only commands never load either):
//   argon2     (optional dependency) the reference libargon2 as a prebuilt Node-API addon: SSE2
//              code, one thread per lane like cryptsetup's, off the main thread.
//   hash-wasm  WebAssembly, single-threaded: about 1.5-2x slower, but installs everywhere; used
//              when the addon is missing or fails to load, or with UCRYPT_ARGON2=wasm.

import { pbkdf2 as pbkdf2Cb, pbkdf2Sync, getHashes } from 'node:crypto';
import { totalmem } from 'node:os';
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
  const a = await argon2Backend();
  try {
    return await a.hash({ type: kdf.type, password, salt: kdf.salt, time: kdf.time, memory: kdf.memory, lanes: kdf.cpus, length });
  } catch (e) {
    throw new LuksError('ERR_LUKS_UNSUPPORTED', `Argon2 failed: ${(e as Error).message}.`, 3);
  }
}

export interface Argon2Params {
  type: 'argon2i' | 'argon2id';
  password: Uint8Array;
  salt: Uint8Array;
  /** Passes (t). */
  time: number;
  /** KiB (m). */
  memory: number;
  /** Lanes (p); the native backend runs one thread per lane. */
  lanes: number;
  /** Output bytes. */
  length: number;
}

export interface Argon2Backend {
  readonly name: 'argon2' | 'hash-wasm';
  hash(p: Argon2Params): Promise<Uint8Array>;
}

/** The part of the `argon2` package (node-argon2) we use: raw output, our salt. */
interface NodeArgon2 {
  argon2i: number;
  argon2id: number;
  hash(password: Buffer, o: { raw: true; type: number; salt: Buffer; timeCost: number; memoryCost: number; parallelism: number; hashLength: number; version: number }): Promise<Buffer>;
}

const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.length);

async function nativeArgon2(): Promise<Argon2Backend> {
  // A variable specifier: the package is optional, so neither tsc nor the loader may require it.
  const spec = 'argon2';
  const mod = (await import(spec)) as { default?: NodeArgon2 } & NodeArgon2;
  const a = mod.default ?? mod;
  if (typeof a.hash !== 'function') throw new Error('argon2: no hash function');
  return {
    name: 'argon2',
    async hash(p) {
      const out = await a.hash(buf(p.password), { raw: true, type: p.type === 'argon2i' ? a.argon2i : a.argon2id, salt: buf(p.salt), timeCost: p.time, memoryCost: p.memory, parallelism: p.lanes, hashLength: p.length, version: 0x13 });
      return new Uint8Array(out.buffer, out.byteOffset, out.length);
    },
  };
}

async function wasmArgon2(): Promise<Argon2Backend> {
  const { argon2i, argon2id } = await import('hash-wasm');
  return {
    name: 'hash-wasm',
    hash: (p) => (p.type === 'argon2i' ? argon2i : argon2id)({ password: p.password, salt: p.salt, iterations: p.time, memorySize: p.memory, parallelism: p.lanes, hashLength: p.length, outputType: 'binary' }),
  };
}

let backend: Promise<Argon2Backend> | undefined;

/** Loads one Argon2 backend by name (tests compare them; `argon2` rejects when the addon cannot load). */
export function loadArgon2Backend(name: Argon2Backend['name']): Promise<Argon2Backend> {
  return name === 'argon2' ? nativeArgon2() : wasmArgon2();
}

/** Makes `b` the backend every Argon2 keyslot uses from now on (undefined: choose again on next use). */
export function useArgon2Backend(b: Argon2Backend | undefined): void {
  backend = b === undefined ? undefined : Promise.resolve(b);
}

/** The Argon2 implementation in use: the native addon when it loads, else hash-wasm. */
export function argon2Backend(): Promise<Argon2Backend> {
  backend ??= (async () => {
    if (process.env['UCRYPT_ARGON2'] !== 'wasm') {
      try {
        return await nativeArgon2();
      } catch (e) {
        if (process.env['UCRYPT_ARGON2'] === 'native') throw new LuksError('ERR_LUKS_UNSUPPORTED', `The native Argon2 (package argon2) did not load: ${(e as Error).message}`);
      }
    }
    return wasmArgon2();
  })();
  return backend;
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
  const a = await argon2Backend();
  let mem = Math.min(memory, Math.floor(totalmem() / 2048));
  const t0 = process.hrtime.bigint();
  await a.hash({ type, password: new Uint8Array([0x78]), salt: new Uint8Array(16), time: 1, memory: mem, lanes: cpus, length: 32 });
  const one = Math.max(Number(process.hrtime.bigint() - t0) / 1e6, 0.001);
  if (ARGON2_MIN_TIME * one > ms) {
    mem = Math.max(32 * cpus, Math.floor((mem * ms) / (ARGON2_MIN_TIME * one)));
    return { time: ARGON2_MIN_TIME, memory: mem };
  }
  return { time: Math.max(ARGON2_MIN_TIME, Math.floor(ms / one)), memory: mem };
}
