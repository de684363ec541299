// The fuzzers: one per parser that takes outside input, each fed generated and mutated inputs
// from a seeded PRNG, in process (cheap calls, no sockets). An input "crashes" when the code
// under test throws anything but its documented error type (UcryptError; LuksError for LUKS;
// nothing for the NBD decoders, which return undefined/false) or does not finish.
// Used by test/fuzz/fuzz.test.ts (bounded) and bench/fuzz.ts (--inputs N).

import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from '../../src/dm/registry.js';
import { parseTable, splitArgs } from '../../src/dm/table.js';
import type { DeviceRef, TargetContext } from '../../src/dm/target.js';
import { getTargetType } from '../../src/dm/target.js';
import { UcryptError } from '../../src/errors.js';
import { handlers } from '../../src/daemon/handlers.js';
import { parseRequest } from '../../src/daemon/protocol.js';
import { decodeInfoRequest, decodeMetaContextRequest, decodeOptionHeader, decodeRequest, type RequestHeader } from '../../src/nbd/protocol.js';
import { LuksError } from '../../src/luks/errors.js';
import { memoryIO } from '../../src/luks/io.js';
import { parseLuks1, serializeLuks1, type Luks1Header } from '../../src/luks/luks1/luks1.js';
import { keyslotIds, keyslotInfo, parseBinaryHeader, segmentIds, segmentInfo, digestIds, digestInfo, serializeArea, tokenIds, validateJson, type Luks2Header } from '../../src/luks/luks2/luks2.js';
import { formatVolume } from '../../src/luks/format.js';
import { readHeader } from '../../src/luks/volume.js';
import { registerBuiltinTargets } from '../../src/targets/index.js';
import { setFaultClock } from '../../src/targets/flakey/fault-env.js';
import { mutateBytes, mutateTokens, Rng } from './rng.js';

export interface Crash {
  readonly fuzzer: string;
  readonly seed: number;
  readonly index: number;
  readonly input: string;
  readonly error: string;
}

export interface FuzzResult {
  readonly name: string;
  inputs: number;
  crashes: Crash[];
  ms: number;
}

export interface Fuzzer {
  readonly name: string;
  /** Runs `n` inputs from `seed`; crashes are collected, never thrown. */
  run(n: number, seed: number): Promise<FuzzResult>;
}

const show = (v: unknown): string => {
  const s = typeof v === 'string' ? JSON.stringify(v) : v instanceof Uint8Array ? Buffer.from(v).toString('base64') : JSON.stringify(v);
  return (s ?? String(v)).length > 600 ? `${(s ?? '').slice(0, 600)}...` : (s ?? String(v));
};
const errText = (e: unknown): string => (e instanceof Error ? `${e.constructor.name}: ${e.message}\n${e.stack?.split('\n').slice(1, 4).join('\n') ?? ''}` : `non-error thrown: ${String(e)}`);

/** How long one input may take before it counts as a hang. */
export const HANG_MS = 5000;

class Hang extends Error {}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Hang(what)), ms)))]).finally(() => clearTimeout(timer));
}

/** The fault targets' clock for fuzzing: delays elapse at once, flakey never leaves its first up period. */
export function instantFaultClock(): void {
  setFaultClock({ now: () => 0, sleep: () => Promise.resolve() });
}

/** Cheap errors while fuzzing (most inputs are refused with an error): short stacks. */
export async function withShortStacks<T>(fn: () => Promise<T>): Promise<T> {
  const saved = Error.stackTraceLimit;
  Error.stackTraceLimit = 4;
  try {
    return await fn();
  } finally {
    Error.stackTraceLimit = saved;
  }
}

/** Runs one input; a throw of a type other than `allowed` is a crash. */
async function guard(res: FuzzResult, seed: number, index: number, input: unknown, allowed: (e: unknown) => boolean, fn: () => unknown): Promise<void> {
  try {
    const r = fn();
    if (r instanceof Promise) await r;
  } catch (e) {
    // (a synchronous body throws here without a promise: cheaper than a rejected one)
    if (!allowed(e)) res.crashes.push({ fuzzer: res.name, seed, index, input: show(input), error: errText(e) });
  }
}

const TRACE = process.env['UCRYPT_FUZZ_TRACE'] === '1';
const isUcrypt = (e: unknown): boolean => e instanceof UcryptError;
const isLuks = (e: unknown): boolean => e instanceof LuksError || e instanceof UcryptError;

function newResult(name: string): FuzzResult {
  return { name, inputs: 0, crashes: [], ms: 0 };
}

// ------------------------------------------------------------------------------------------ tables

const KEY32 = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
const KEY64 = KEY32 + KEY32;
/** Devices a fuzzed table may name: only these (anything else that looks like a path is replaced). */
const SAFE_DEVICES = ['/dev/ram0', '/dev/ram1', '1:0', '1:1', '/dev/mapper/base', '254:0', '/dev/nosuch', 'nosuch'];

const TABLE_SEEDS: readonly string[] = [
  '0 64 linear /dev/ram0 0',
  '0 64 linear 1:1 128',
  '0 64 zero',
  '0 64 error',
  '0 64 linear /dev/ram0 0\n64 64 zero\n128 8 error',
  `0 64 crypt aes-xts-plain64 ${KEY64} 0 /dev/ram0 0`,
  `0 64 crypt aes-cbc-essiv:sha256 ${KEY32} 8 /dev/ram1 16 2 allow_discards sector_size:4096`,
  `0 64 crypt capi:xts(aes)-plain64 ${KEY64} 0 /dev/ram0 0 1 no_read_workqueue`,
  `0 64 crypt serpent-cbc-plain ${KEY32} 0 1:0 0 3 same_cpu_crypt submit_from_crypt_cpus iv_large_sectors`,
  `0 64 crypt aes-cbc-lmk ${KEY32}${KEY32.slice(0, 32)} 0 /dev/ram0 0`,
  `0 64 crypt twofish-xts-benbi ${KEY64} 0 /dev/ram0 0`,
  `0 64 crypt aes-cbc-tcw ${KEY32}${KEY32}${KEY32.slice(0, 32)} 0 /dev/ram0 0`,
  `0 64 crypt xchacha12,aes-adiantum-plain64 ${KEY32} 0 /dev/ram0 0`,
  `0 64 crypt aes-xts-plain64 :32:logon:ucrypt:key 0 /dev/ram0 0`,
  `0 64 crypt cipher_null-ecb - 0 /dev/ram0 0`,
  '0 64 flakey /dev/ram0 0 1 1',
  '0 64 flakey /dev/ram0 0 1 1 1 drop_writes',
  '0 64 flakey /dev/ram0 0 0 1 5 corrupt_bio_byte 32 r 1 0',
  '0 64 flakey /dev/ram0 0 1 1 8 error_reads corrupt_bio_byte 3 w 9 2048 random_write_corrupt 7',
  '0 64 flakey 1:1 8 3 4 4 random_read_corrupt 100 random_write_corrupt 5',
  '0 64 delay /dev/ram0 0 0',
  '0 64 delay /dev/ram0 0 1 /dev/ram1 0 2',
  '0 64 delay /dev/ram0 0 0 /dev/ram1 0 0 1:0 8 0',
];
const TABLE_WORDS = ['linear', 'zero', 'error', 'crypt', 'flakey', 'delay', 'drop_writes', 'error_writes', 'error_reads', 'corrupt_bio_byte', 'random_read_corrupt', 'random_write_corrupt', 'allow_discards', 'sector_size:4096', 'sector_size:0', 'integrity:28:aead', 'iv_large_sectors', 'aes-xts-plain64', 'aes-cbc-essiv:nosuch', KEY32, KEY64, ...SAFE_DEVICES];

/** Keeps fuzzed tables away from real files: path-like words not in SAFE_DEVICES are replaced. */
export function sanitizeTable(text: string): string {
  return text
    .split('\n')
    .map((line) =>
      line
        .split(' ')
        .map((w) => (w.includes('/') && !SAFE_DEVICES.includes(w) ? '/dev/nosuch' : w))
        .join(' '),
    )
    .join('\n');
}

function genTable(rng: Rng): string {
  if (rng.chance(0.05)) return Buffer.from(rng.bytes(rng.int(80))).toString('latin1');
  const base = rng.pick(TABLE_SEEDS);
  const lines = base.split('\n').map((l) => (rng.chance(0.85) ? mutateTokens(l, rng, TABLE_WORDS) : l));
  if (rng.chance(0.05)) lines.push(rng.pick(['#comment', '', '   ', '0 0 zero', 'x']));
  return sanitizeTable(lines.join(rng.chance(0.95) ? '\n' : '\r\n'));
}

/** In a temp dir, so relative names in fuzzed input never meet a real file. */
function isolate(): void {
  process.chdir(mkdtempSync(join(tmpdir(), 'ucrypt-fuzz-')));
}

export function tableFuzzer(): Fuzzer {
  return {
    name: 'table lines (parseTable + target constructors)',
    async run(n, seed) {
      isolate();
      instantFaultClock();
      registerBuiltinTargets();
      const res = newResult(this.name);
      const reg = new Registry();
      reg.modprobeBrd({ rd_nr: 2, rd_size: 1024 });
      await reg.create('base', { table: '0 64 zero' });
      const refs = new Map<string, DeviceRef>();
      for (const [p, i] of [['/dev/ram0', 0], ['1:0', 0], ['/dev/ram1', 1], ['1:1', 1]] as const) refs.set(p, { dev: reg.ramDisk(i)!, devName: `1:${i}`, kname: `ram${i}` });
      const rng = new Rng(seed);
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const text = genTable(rng);
        res.inputs++;
        // The registry path (validation, limits, logs) for a share of the inputs; the target
        // constructors directly for the rest (cheaper).
        if (i % 16 === 0) {
          await guard(res, seed, i, text, isUcrypt, async () => {
            try {
              await withTimeout(reg.create('fz', { table: text }), HANG_MS, 'create did not finish');
              reg.lines('fz', { status: true });
              reg.lines('fz', { status: false, showKeys: true });
            } finally {
              if (reg.list().some((m) => m.name === 'fz')) await withTimeout(reg.remove('fz'), HANG_MS, 'remove did not finish');
            }
          });
          continue;
        }
        await guard(res, seed, i, text, isUcrypt, async () => {
          for (const line of parseTable(text)) {
            const type = getTargetType(line.type);
            if (!type) continue;
            const ctx: TargetContext = {
              begin: line.start,
              len: line.length,
              readOnly: false,
              log: () => undefined,
              getDevice: async (path) => {
                const r = refs.get(path);
                if (!r) throw new UcryptError('ERR_NO_DEVICE', 'ENODEV', `${path}: no such device`);
                return r;
              },
            };
            const t = await withTimeout(Promise.resolve(type.create(splitArgs(line.params), ctx)), HANG_MS, 'constructor did not finish');
            try {
              t.status('table', { showKeys: true });
              t.status('info', { showKeys: false });
            } finally {
              t.close?.();
            }
          }
        });
      }
      await reg.removeAll();
      res.ms = performance.now() - t0;
      return res;
    },
  };
}

// ------------------------------------------------------------------------------ control messages

const OPS = Object.keys(handlers);
/** Operations not executed by the fuzzer (they change the process-wide set of RAM disks). */
// Diagnostics: a heap snapshot writes a file of megabytes, a memory figure runs a full GC.
const NOT_RUN = new Set(['modprobe', 'rmmod', 'debug.heapsnapshot', 'debug.memory']);
const NAMES = ['base', 'fz', 'ram0', '/dev/ram0', '/dev/mapper/base', '254:0', '1:1', 'nosuch', ''];

function randomValue(rng: Rng, depth = 0): unknown {
  switch (rng.int(depth > 2 ? 6 : 8)) {
    case 0:
      return rng.pick([0, 1, -1, 2 ** 53, 1.5, 512, 4096, 1e300, NaN]);
    case 1:
      return rng.pick(NAMES);
    case 2:
      return rng.chance(0.5);
    case 3:
      return null;
    case 4:
      return Buffer.from(rng.bytes(rng.int(16))).toString('latin1');
    case 5:
      return rng.pick(TABLE_SEEDS);
    case 6:
      return Array.from({ length: rng.int(4) }, () => randomValue(rng, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(5); i > 0; i--) o[rng.pick(ARG_KEYS)] = randomValue(rng, depth + 1);
      return o;
    }
  }
}
const ARG_KEYS = ['name', 'table', 'lines', 'device', 'offset', 'length', 'data', 'sector', 'argv', 'status', 'inactive', 'showKeys', 'uuid', 'readOnly', 'module', 'params', 'fua', 'start', 'type', 'noFlush', '__proto__', 'constructor'];

/** A request with plausible args for its op, then maybe mutated as text. */
export function genRequest(rng: Rng, id: number): string {
  const op = rng.chance(0.95) ? rng.pick(OPS) : Buffer.from(rng.bytes(rng.int(12))).toString('latin1');
  const args: Record<string, unknown> = {};
  for (let k = rng.int(6); k > 0; k--) args[rng.pick(ARG_KEYS)] = randomValue(rng);
  if (rng.chance(0.5)) args['name'] = rng.pick(NAMES);
  if (rng.chance(0.3)) args['device'] = rng.pick(NAMES);
  if (rng.chance(0.3)) args['table'] = genTable(rng);
  if (rng.chance(0.2)) args['lines'] = [{ start: 0, length: rng.pick([0, 8, 64, 2 ** 40]), type: rng.pick(['zero', 'error', 'linear', 'flakey']), params: rng.pick(['', '/dev/ram0 0', '/dev/ram0 0 1 1']) }];
  if (rng.chance(0.2)) args['data'] = Buffer.from(rng.bytes(rng.pick([0, 1, 511, 512, 4096]))).toString('base64');
  if (rng.chance(0.3)) args['offset'] = rng.pick([0, 512, 4096, 32768, 2 ** 40, -512, 3]);
  if (rng.chance(0.3)) args['length'] = rng.pick([0, 512, 4096, 32 << 20, (32 << 20) + 1, 2 ** 40, 7]);
  const req: Record<string, unknown> = { id, op, args };
  let line = JSON.stringify(req);
  if (rng.chance(0.3)) line = Buffer.from(mutateBytes(Buffer.from(line), rng, 4096)).toString('utf8');
  if (rng.chance(0.03)) line = Buffer.from(rng.bytes(rng.int(64))).toString('latin1');
  return line;
}

/** Path-like strings in args other than the safe device names become `/dev/nosuch`. */
export function sanitizeArgs(v: unknown): unknown {
  if (typeof v === 'string') return v.includes('/') && !SAFE_DEVICES.includes(v) ? (v.includes(' ') ? sanitizeTable(v) : '/dev/nosuch') : v;
  if (Array.isArray(v)) return v.map(sanitizeArgs);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, sanitizeArgs(x)]));
  return v;
}

export function controlFuzzer(): Fuzzer {
  return {
    name: 'control messages (parseRequest + handlers)',
    async run(n, seed) {
      isolate();
      instantFaultClock();
      registerBuiltinTargets();
      const res = newResult(this.name);
      const reg = new Registry();
      reg.modprobeBrd({ rd_nr: 2, rd_size: 1024 });
      const rng = new Rng(seed);
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const line = genRequest(rng, i);
        res.inputs++;
        if (TRACE) process.stderr.write(`${i} ${line}\n`);
        await guard(res, seed, i, line, isUcrypt, async () => {
          const req = parseRequest(line);
          if (NOT_RUN.has(req.op) || !Object.hasOwn(handlers, req.op)) return;
          // every 4th parsed request is executed (the handlers and the registry behind them)
          if (i % 4 !== 0) return;
          if (!reg.list().some((m) => m.name === 'base')) await reg.create('base', { table: '0 64 linear /dev/ram0 0' });
          const args = sanitizeArgs(req.args) as Record<string, unknown>;
          try {
            const r = await withTimeout(Promise.resolve(handlers[req.op]!(reg, args)), HANG_MS, `${req.op} did not finish in ${HANG_MS} ms`);
            JSON.stringify(r ?? null);
          } finally {
            // I/O to a suspended device waits for its resume (as in the kernel): resume (or
            // remove) what the fuzzed requests suspended, so later inputs do not wait on it.
            for (const md of reg.list()) {
              if (!md.suspended) continue;
              await reg.resume(md.name).catch(() => undefined);
              if (md.suspended) await reg.remove(md.name).catch(() => undefined);
            }
          }
        });
        // keep the registry small: the fuzzer creates devices under many names
        if (i % 256 === 255) await reg.removeAll().catch(() => undefined);
      }
      await reg.removeAll().catch(() => undefined);
      res.ms = performance.now() - t0;
      return res;
    },
  };
}

// ------------------------------------------------------------------------------------- NBD

const IHAVEOPT = Buffer.from('IHAVEOPT');

function optionPacket(rng: Rng): Buffer {
  const option = rng.chance(0.8) ? rng.int(12) : rng.u32();
  let data: Buffer;
  const name = rng.pick(['', 'base', 'ram0', 'nosuch', 'x'.repeat(4097)]);
  if (option === 6 || option === 7) {
    const n = rng.int(4);
    data = Buffer.alloc(4 + name.length + 2 + n * 2);
    data.writeUInt32BE(name.length, 0);
    data.write(name, 4);
    data.writeUInt16BE(n, 4 + name.length);
    for (let i = 0; i < n; i++) data.writeUInt16BE(rng.int(5), 6 + name.length + i * 2);
  } else if (option === 9 || option === 10) {
    const qs = Array.from({ length: rng.int(3) }, () => rng.pick(['base:allocation', 'base:', 'qemu:dirty-bitmap:x', '']));
    const parts = [Buffer.alloc(4), Buffer.from(name), Buffer.alloc(4)];
    parts[0]!.writeUInt32BE(name.length);
    parts[2]!.writeUInt32BE(qs.length);
    for (const q of qs) {
      const l = Buffer.alloc(4);
      l.writeUInt32BE(q.length);
      parts.push(l, Buffer.from(q));
    }
    data = Buffer.concat(parts);
  } else {
    data = Buffer.from(name);
  }
  if (rng.chance(0.3)) data = Buffer.from(mutateBytes(data, rng, 8192));
  const h = Buffer.alloc(16);
  IHAVEOPT.copy(h, 0);
  h.writeUInt32BE(option >>> 0, 8);
  h.writeUInt32BE(rng.chance(0.05) ? rng.pick([0xffffffff, 0x80000000, 65536, data.length + 1]) : data.length, 12);
  let p = Buffer.concat([h, data]);
  if (rng.chance(0.1)) p = Buffer.from(mutateBytes(p, rng, 8192));
  return p;
}

export function requestPacket(rng: Rng, size: number): Buffer {
  const type = rng.chance(0.9) ? rng.int(8) : rng.int(65536);
  const lengths = [0, 1, 512, 4096, 65536, 32 << 20, (32 << 20) + 1, 0xffffffff];
  const length = rng.chance(0.7) ? rng.pick([512, 4096, 1024]) : rng.pick(lengths);
  const offsets = [0, 512, size - 512, size, size + 512, 2 ** 53, 2 ** 63, 1, 2 ** 64 - 512];
  const offset = rng.chance(0.7) ? rng.int(Math.max(1, size / 512)) * 512 : rng.pick(offsets);
  const h = Buffer.alloc(28);
  h.writeUInt32BE(0x25609513, 0);
  h.writeUInt16BE(rng.chance(0.8) ? rng.pick([0, 1, 2, 4, 8]) : rng.int(65536), 4);
  h.writeUInt16BE(type, 6);
  h.writeUInt32BE(rng.u32(), 8);
  h.writeUInt32BE(rng.u32(), 12);
  const big = BigInt(Math.min(offset, 2 ** 64 - 1));
  h.writeBigUInt64BE(big > 0xffffffffffffffffn ? 0xffffffffffffffffn : big, 16);
  h.writeUInt32BE(length >>> 0, 24);
  // WRITE payloads: the full one, a part of it (the stream then ends mid-payload), or none
  let payload = Buffer.alloc(0);
  if (type === 1 && length <= 65536) payload = Buffer.from(rng.bytes(rng.chance(0.9) ? length : rng.int(length + 1)));
  let p = Buffer.concat([h, payload]);
  if (rng.chance(0.1)) p = Buffer.from(mutateBytes(p, rng, 1 << 17));
  return p;
}

/** The NBD decoders (option headers, INFO/GO, META_CONTEXT, request headers): 100% in-process. */
export function nbdDecoderFuzzer(): Fuzzer {
  return {
    name: 'NBD packets (option header, INFO/GO, META_CONTEXT, request header decoders)',
    async run(n, seed) {
      const res = newResult(this.name);
      const rng = new Rng(seed);
      const out: RequestHeader = { flags: 0, type: 0, cookieHi: 0, cookieLo: 0, offset: 0, length: 0 };
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const opt = optionPacket(rng);
        const req = requestPacket(rng, 1 << 20);
        const raw = Buffer.from(rng.bytes(rng.int(64)));
        res.inputs++;
        await guard(res, seed, i, opt, () => false, () => {
          decodeOptionHeader(opt.subarray(0, 16));
          decodeOptionHeader(raw);
          decodeInfoRequest(opt.subarray(16));
          decodeMetaContextRequest(opt.subarray(16));
          decodeInfoRequest(raw);
          decodeMetaContextRequest(raw);
          if (req.length >= 28) decodeRequest(req, 0, out);
          if (raw.length >= 28) decodeRequest(raw, 0, out);
        });
      }
      res.ms = performance.now() - t0;
      return res;
    },
  };
}

export { optionPacket };

// ------------------------------------------------------------------------------------- LUKS

interface LuksSeeds {
  luks1: Uint8Array[];
  luks2Areas: { area: Uint8Array; json: string }[];
  images: Uint8Array[];
}

let seedsCache: Promise<LuksSeeds> | undefined;

/** ucrypt-made LUKS1 and LUKS2 headers (fast PBKDF) to mutate. */
export function luksSeeds(): Promise<LuksSeeds> {
  seedsCache ??= (async () => {
    const seeds: LuksSeeds = { luks1: [], luks2Areas: [], images: [] };
    const pass = new TextEncoder().encode('fuzz');
    const kdf = { type: 'pbkdf2' as const, hash: 'sha256', iterations: 1000 } as never;
    for (const [version, cipher, keySize] of [[1, 'aes-xts-plain64', 64], [1, 'aes-cbc-essiv:sha256', 32], [2, 'aes-xts-plain64', 64], [2, 'serpent-cbc-plain64', 32]] as const) {
      const io = memoryIO(new Uint8Array(version === 1 ? 3 << 20 : 17 << 20));
      const { header } = await formatVolume(io, pass, { version, cipher, keySize, hash: 'sha256', kdf, sectorSize: 512, digestIterations: 1000, label: version === 2 ? 'fuzz' : undefined });
      if (version === 1) seeds.luks1.push(io.bytes.slice(0, 592));
      else {
        const h = header as Luks2Header;
        const area = io.bytes.slice(0, h.bin.hdrSize);
        const end = area.indexOf(0, 4096);
        seeds.luks2Areas.push({ area, json: Buffer.from(area.subarray(4096, end)).toString('utf8') });
      }
      seeds.images.push(io.bytes.slice(0, 1 << 20));
    }
    return seeds;
  })();
  return seedsCache;
}

/** Writes `text` as the JSON area of `area` and fixes the checksum, so the parser gets past it. */
export function withJson(area: Uint8Array, text: string): Uint8Array {
  const a = area.slice();
  a.fill(0, 4096);
  const t = Buffer.from(text, 'utf8').subarray(0, a.length - 4096 - 1);
  a.set(t, 4096);
  a.fill(0, 448, 512);
  a.set(createHash('sha256').update(a).digest(), 448);
  return a;
}

const JSON_WORDS = ['"keyslots"', '"segments"', '"digests"', '"config"', '"tokens"', '"offset"', '"size"', '"dynamic"', '"json_size"', '"keyslots_size"', '"0"', '"32"', '"-1"', '"18446744073709551616"', '"luks2"', '"pbkdf2"', '"argon2id"', '"af"', '"area"', '"raw"', '"crypt"', '[]', '{}', 'null', '1e999', '-0', '"sha1"', '"nosuch"', '"\\u0000"'];

function mutateJson(text: string, rng: Rng): string {
  if (rng.chance(0.5)) {
    // structural: swap a JSON value/key token for another
    const tokens = text.split(/("(?:[^"\\]|\\.)*"|[{}[\],:])/);
    for (let r = 1 + rng.int(3); r > 0; r--) {
      const i = rng.int(tokens.length);
      tokens[i] = rng.chance(0.8) ? rng.pick(JSON_WORDS) : '';
    }
    return tokens.join('');
  }
  return Buffer.from(mutateBytes(Buffer.from(text), rng, 1 << 16)).toString('utf8');
}

export function luks1Fuzzer(): Fuzzer {
  return {
    name: 'LUKS1 headers (parseLuks1, readHeader)',
    async run(n, seed) {
      const res = newResult(this.name);
      const seeds = await luksSeeds();
      const rng = new Rng(seed);
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const b = mutateBytes(rng.pick(seeds.luks1), rng, 4096);
        res.inputs++;
        const size = rng.chance(0.5) ? 1 << 20 : undefined;
        await guard(res, seed, i, b, isLuks, () => {
          serializeLuks1(parseLuks1(b, size));
        });
        if (i % 64 === 0) {
          await guard(res, seed, i, b, isLuks, async () => {
            const img = seeds.images[0]!.slice();
            img.set(b.subarray(0, Math.min(b.length, img.length)));
            await readHeader(memoryIO(img));
          });
        }
      }
      res.ms = performance.now() - t0;
      return res;
    },
  };
}

export function luks2Fuzzer(): Fuzzer {
  return {
    name: 'LUKS2 headers and JSON (parseBinaryHeader, validateJson, metadata accessors)',
    async run(n, seed) {
      const res = newResult(this.name);
      const seeds = await luksSeeds();
      const rng = new Rng(seed);
      const t0 = performance.now();
      for (let i = 0; i < n; i++) {
        const s = rng.pick(seeds.luks2Areas);
        // half binary mutations (mostly stopped by the checksum), half JSON mutations re-checksummed
        res.inputs++;
        if (i % 8 !== 0) {
          // most JSON mutations go straight to the metadata checks (no 16 KiB checksum per input)
          const text = mutateJson(s.json, rng);
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            continue; // parseBinaryHeader refuses non-JSON with ERR_LUKS_JSON (covered below)
          }
          await guard(res, seed, i, text, isLuks, () => {
            if (typeof json !== 'object' || json === null || Array.isArray(json)) return;
            const j = json as Record<string, unknown>;
            validateJson(j, s.area.length);
            for (const id of keyslotIds(j)) keyslotInfo(j, id);
            for (const id of segmentIds(j)) segmentInfo(j, id);
            for (const id of digestIds(j)) digestInfo(j, id);
            tokenIds(j);
          });
          continue;
        }
        const area = rng.chance(0.5) ? mutateBytes(s.area, rng, 1 << 16) : withJson(s.area, mutateJson(s.json, rng));
        await guard(res, seed, i, i % 2 ? Buffer.from(area.subarray(4096, 4096 + 2048)).toString('utf8') : area.subarray(0, 512), isLuks, () => {
          const p = parseBinaryHeader(area, 0, 1);
          validateJson(p.json, p.bin.hdrSize);
          for (const id of keyslotIds(p.json)) keyslotInfo(p.json, id);
          for (const id of segmentIds(p.json)) segmentInfo(p.json, id);
          for (const id of digestIds(p.json)) digestInfo(p.json, id);
          tokenIds(p.json);
          if (i % 8 === 0) serializeArea(p.bin, p.json, 1, 0, p.order);
        });
        if (i % 64 === 0) {
          const img = rng.pick(seeds.images).slice();
          await guard(res, seed, i, area.subarray(0, 512), isLuks, async () => {
            img.set(area.subarray(0, Math.min(area.length, img.length)));
            await readHeader(memoryIO(img));
          });
        }
      }
      res.ms = performance.now() - t0;
      return res;
    },
  };
}

export type { Luks1Header };
