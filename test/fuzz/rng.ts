// A seeded PRNG and byte/text mutators for the fuzzers (deterministic: the seed reproduces a run).

export class Rng {
  private s: Uint32Array;
  constructor(readonly seed: number) {
    this.s = new Uint32Array(4);
    let h = (seed ^ 0x9e3779b9) >>> 0;
    for (let i = 0; i < 4; i++) {
      h = (h + 0x9e3779b9) >>> 0;
      let z = h;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0 || 1;
    }
  }
  u32(): number {
    const s = this.s;
    let t = s[3]!;
    const x = s[0]!;
    s[3] = s[2]!;
    s[2] = s[1]!;
    s[1] = x;
    t ^= t << 11;
    t ^= t >>> 8;
    s[0] = (t ^ x ^ (x >>> 19)) >>> 0;
    return s[0];
  }
  /** 0 <= n < max */
  int(max: number): number {
    return max <= 1 ? 0 : this.u32() % max;
  }
  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

const INTERESTING_U32 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x1000, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** Byte-level mutations: bit flips, interesting values, inserted/deleted/duplicated ranges. */
export function mutateBytes(src: Uint8Array, rng: Rng, maxLen = 1 << 20): Uint8Array {
  let b = src.slice();
  const rounds = 1 + rng.int(rng.chance(0.2) ? 16 : 4);
  for (let r = 0; r < rounds; r++) {
    const op = rng.int(9);
    const at = rng.int(b.length + 1);
    if (op <= 2 && b.length > 0) {
      b[at % b.length]! ^= 1 << rng.int(8);
    } else if (op === 3 && b.length > 0) {
      b[at % b.length] = rng.pick([0, 0xff, 0x7f, 0x80, 0x20, 0x22, 0x7b, 0x7d, 0x5c, 0x2c]);
    } else if (op === 4 && b.length >= 4) {
      const p = Math.min(at, b.length - 4);
      new DataView(b.buffer, b.byteOffset).setUint32(p, rng.pick(INTERESTING_U32), rng.chance(0.5));
    } else if (op === 5 && b.length > 0) {
      // delete a range
      const n = Math.min(1 + rng.int(Math.min(64, b.length)), b.length - Math.min(at, b.length));
      const out = new Uint8Array(b.length - n);
      out.set(b.subarray(0, at));
      out.set(b.subarray(at + n), at);
      b = out;
    } else if (op === 6 && b.length < maxLen) {
      const ins = rng.bytes(1 + rng.int(16));
      const out = new Uint8Array(b.length + ins.length);
      out.set(b.subarray(0, at));
      out.set(ins, at);
      out.set(b.subarray(at), at + ins.length);
      b = out;
    } else if (op === 7 && b.length > 0 && b.length < maxLen) {
      // duplicate a chunk
      const from = rng.int(b.length);
      const n = Math.min(1 + rng.int(64), b.length - from);
      const out = new Uint8Array(b.length + n);
      out.set(b.subarray(0, at));
      out.set(b.subarray(from, from + n), at);
      out.set(b.subarray(at), at + n);
      b = out;
    } else if (op === 8) {
      b = b.subarray(0, rng.int(b.length + 1)).slice();
    }
  }
  return b;
}

const TOKENS = ['0', '1', '-1', '00', '4294967295', '4294967296', '18446744073709551615', '99999999999999999999', '0x10', '1e3', '', ' ', '\\', '\\ ', '#', 'nosuch', 'r', 'w', 'R', 'x'];

/** Token-level mutations of a whitespace-separated line (tables, argument lists). */
export function mutateTokens(line: string, rng: Rng, extra: readonly string[] = []): string {
  const t = line.split(' ');
  const rounds = 1 + rng.int(3);
  for (let r = 0; r < rounds; r++) {
    const i = rng.int(t.length);
    switch (rng.int(7)) {
      case 0:
        t[i] = rng.pick(TOKENS);
        break;
      case 1:
        t.splice(i, 1);
        break;
      case 2:
        t.splice(i, 0, rng.pick(extra.length > 0 && rng.chance(0.5) ? extra : TOKENS));
        break;
      case 3:
        t.splice(i, 0, t[rng.int(t.length)] ?? '');
        break;
      case 4: {
        const s = t[i] ?? '';
        const p = rng.int(s.length + 1);
        t[i] = s.slice(0, p) + String.fromCharCode(rng.int(128)) + s.slice(p);
        break;
      }
      case 5:
        t[i] = (t[i] ?? '').toUpperCase();
        break;
      default:
        t.length = rng.int(t.length + 1);
    }
  }
  return t.join(' ');
}
