// What the fault-injection targets (flakey, delay) take from their surroundings: a clock, a timer
// and a seeded random source. Tests replace the clock; a failing run reproduces with the seed.
//
// Seeding: every flakey target draws from its own xorshift PRNG seeded from the fault seed (env
// UCRYPT_FAULT_SEED, a decimal or 0x-hex u32; or setFaultSeed(); else a random one chosen once per
// process, readable with faultSeed()) mixed with the target's first sector and parameter string,
// so the same seed and the same table give the same faults, whatever else the process does.

import { randomInt } from 'node:crypto';

export interface FaultClock {
  /** Milliseconds on a monotonic clock (the kernel's jiffies, in ms). */
  now(): number;
  /** Resolves after `ms` milliseconds of this clock. */
  sleep(ms: number): Promise<void>;
}

const realClock: FaultClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

let clock: FaultClock = realClock;

/** The clock the fault targets use now. */
export function faultClock(): FaultClock {
  return clock;
}

/** Replaces the clock (tests); undefined restores the real one. Targets read it on every I/O. */
export function setFaultClock(c: FaultClock | undefined): void {
  clock = c ?? realClock;
}

function parseSeed(s: string | undefined): number | undefined {
  if (s === undefined || s === '') return undefined;
  const n = /^0x[0-9a-f]+$/i.test(s) ? Number.parseInt(s.slice(2), 16) : /^\d+$/.test(s) ? Number(s) : NaN;
  return Number.isSafeInteger(n) ? n >>> 0 : undefined;
}

let seed: number | undefined;

/** The fault seed in use (UCRYPT_FAULT_SEED, setFaultSeed, or one chosen at random once). */
export function faultSeed(): number {
  seed ??= parseSeed(process.env['UCRYPT_FAULT_SEED']) ?? randomInt(0, 2 ** 32);
  return seed;
}

/** Sets the fault seed for targets constructed from now on; undefined re-reads the environment. */
export function setFaultSeed(s: number | undefined): void {
  seed = s === undefined ? undefined : s >>> 0;
}

/** FNV-1a over a string, for mixing the table position into the seed. */
function fnv1a(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** A small deterministic PRNG (xorshift128). */
export class FaultRandom {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seedValue: number, salt = '') {
    let h = fnv1a(salt, (seedValue ^ 0x9e3779b9) >>> 0);
    const next = (): number => {
      // splitmix32 to spread the seed over the state
      h = (h + 0x9e3779b9) >>> 0;
      let z = h;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next() || 1;
    this.b = next();
    this.c = next();
    this.d = next();
  }

  /** A uniform u32. */
  u32(): number {
    let t = this.d;
    const s = this.a;
    this.d = this.c;
    this.c = this.b;
    this.b = s;
    t ^= t << 11;
    t ^= t >>> 8;
    this.a = (t ^ s ^ (s >>> 19)) >>> 0;
    return this.a;
  }

  /** get_random_u64() % base, for base < 2^32 (two u32 draws, as the kernel's do_div). */
  u64mod(base: number): number {
    const hi = BigInt(this.u32());
    const lo = BigInt(this.u32());
    return Number(((hi << 32n) | lo) % BigInt(base));
  }
}

/** A target's PRNG: the fault seed mixed with where the target sits and what its table says. */
export function targetRandom(begin: number, type: string, args: readonly string[]): FaultRandom {
  return new FaultRandom(faultSeed(), `${type} ${begin} ${args.join(' ')}`);
}

/**
 * The kernel's sscanf(arg, "%u%c") check: decimal digits only (no sign, no spaces), the value
 * taken modulo 2^32 as the kernel's vsscanf truncates into an unsigned int.
 */
export function parseUint(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d+$/.test(s)) return undefined;
  return Number(BigInt(s) & 0xffffffffn);
}
