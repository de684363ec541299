// fio's command line (a subset, same spelling): `--opt=value` or `--opt value`, booleans without
// a value. Options before the first `--name` are global; each `--name` starts a job that inherits
// them, as fio's parser does with `--name` on the command line.

import { UcryptError } from '../errors.js';
import type { SizeOrPercent } from './units.js';
import { parseSize, parseSizeOrPercent, parseTime } from './units.js';

export type RwMode = 'read' | 'write' | 'randread' | 'randwrite' | 'rw' | 'randrw';
export type IoEngineName = 'nbd' | 'inprocess';
export type OutputFormat = 'normal' | 'json' | 'terse';

export interface JobOptions {
  readonly name: string;
  readonly filename: string;
  readonly rw: RwMode;
  /** Percentage of reads in a mixed workload (rwmixread, default 50). */
  readonly rwmixread: number;
  readonly bs: number;
  /** Accepted for compatibility: every ucrypt I/O is direct (there is no page cache). */
  readonly direct: boolean;
  readonly iodepth: number;
  readonly numjobs: number;
  readonly loops: number;
  /** Microseconds; undefined means no limit. */
  readonly runtimeUs: number | undefined;
  readonly rampUs: number;
  readonly timeBased: boolean;
  readonly size: SizeOrPercent | undefined;
  readonly offset: SizeOrPercent;
  readonly verify: 'crc32c' | undefined;
  readonly ioengine: IoEngineName;
  readonly groupReporting: boolean;
  /** The options as given (for JSON's "job options"). */
  readonly given: Readonly<Record<string, string>>;
}

export interface FioArgs {
  readonly jobs: JobOptions[];
  readonly globals: Readonly<Record<string, string>>;
  readonly outputFormat: OutputFormat;
  /** `--stack` commands for the in-process engine (`;`-separated ucrypt command lines). */
  readonly stack: string | undefined;
  /** `--output=FILE`. */
  readonly output: string | undefined;
  /** `--eta=never|always|auto`. */
  readonly eta: 'never' | 'always' | 'auto';
}

const badArg = (msg: string): UcryptError => new UcryptError('ERR_BAD_ARGUMENT', 'EINVAL', msg);

const BOOLEAN = new Set(['time_based', 'group_reporting', 'direct', 'thread', 'norandommap', 'randrepeat', 'buffered']);
const VALUED = new Set([
  'name', 'filename', 'readwrite', 'rw', 'rwmixread', 'rwmixwrite', 'bs', 'blocksize', 'direct', 'iodepth', 'numjobs', 'loops', 'runtime', 'ramp_time',
  'size', 'offset', 'verify', 'ioengine', 'output-format', 'stack', 'output', 'eta', 'uri', 'time_based', 'group_reporting', 'thread', 'norandommap', 'randrepeat', 'buffered',
]);
/** ioengines that mean "the device path": each becomes our default engine, NBD. */
const PATH_ENGINES = new Set(['nbd', 'psync', 'sync', 'pvsync', 'pvsync2', 'libaio', 'io_uring', 'posixaio']);

const RW: Record<string, RwMode> = { read: 'read', write: 'write', randread: 'randread', randwrite: 'randwrite', rw: 'rw', readwrite: 'rw', randrw: 'randrw' };

function int(text: string, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(text.trim())) throw badArg(`${what}: '${text}' is not a whole number`);
  const n = Number(text);
  if (n < min || n > max) throw badArg(`${what}: ${n} is out of range (${min}..${max})`);
  return n;
}

function bool(text: string, what: string): boolean {
  if (text === '' || text === '1' || text === 'true') return true;
  if (text === '0' || text === 'false') return false;
  throw badArg(`${what}: '${text}' is not 0 or 1`);
}

function buildJob(opts: Record<string, string>): JobOptions {
  const get = (k: string): string | undefined => (Object.hasOwn(opts, k) ? opts[k] : undefined);
  const name = get('name') ?? 'job';
  const filename = get('filename') ?? get('uri');
  if (filename === undefined) throw badArg(`fio: job '${name}' has no --filename (a device such as /dev/mapper/eram0, or nbd+unix:///NAME?socket=PATH)`);
  const rwText = get('readwrite') ?? get('rw') ?? 'read';
  const rw = Object.hasOwn(RW, rwText) ? RW[rwText] : undefined;
  if (!rw) throw badArg(`fio: --readwrite=${rwText}: expected one of read, write, randread, randwrite, rw, readwrite, randrw`);
  let rwmixread = 50;
  if (get('rwmixread') !== undefined) rwmixread = int(get('rwmixread')!, 'rwmixread', 0, 100);
  else if (get('rwmixwrite') !== undefined) rwmixread = 100 - int(get('rwmixwrite')!, 'rwmixwrite', 0, 100);
  const bsText = get('bs') ?? get('blocksize') ?? '4k';
  const bs = parseSize(bsText, 'bs');
  if (bs <= 0 || bs % 512 !== 0) throw badArg(`fio: --bs=${bsText}: the block size must be a positive multiple of 512`);
  const verify = get('verify');
  if (verify !== undefined && verify !== 'crc32c' && verify !== '0' && verify !== 'null') throw badArg(`fio: --verify=${verify}: only crc32c is supported`);
  const engineText = get('ioengine') ?? 'nbd';
  let ioengine: IoEngineName;
  if (engineText === 'inprocess') ioengine = 'inprocess';
  else if (PATH_ENGINES.has(engineText)) ioengine = 'nbd';
  else throw badArg(`fio: --ioengine=${engineText}: expected nbd (the default) or inprocess`);
  const runtime = get('runtime');
  return {
    name,
    filename,
    rw,
    rwmixread,
    bs,
    direct: bool(get('direct') ?? '0', 'direct'),
    iodepth: int(get('iodepth') ?? '1', 'iodepth', 1, 65536),
    numjobs: int(get('numjobs') ?? '1', 'numjobs', 1, 1024),
    loops: int(get('loops') ?? '1', 'loops', 1),
    runtimeUs: runtime === undefined || parseTime(runtime, 'runtime') === 0 ? undefined : parseTime(runtime, 'runtime'),
    rampUs: parseTime(get('ramp_time') ?? '0', 'ramp_time'),
    timeBased: bool(get('time_based') ?? '0', 'time_based'),
    size: get('size') === undefined ? undefined : parseSizeOrPercent(get('size')!, 'size'),
    offset: parseSizeOrPercent(get('offset') ?? '0', 'offset'),
    verify: verify === 'crc32c' ? 'crc32c' : undefined,
    ioengine,
    groupReporting: bool(get('group_reporting') ?? '0', 'group_reporting'),
    given: { ...opts },
  };
}

/** Parses fio-style arguments into jobs. Throws UcryptError(EINVAL) with fio-like wording. */
export function parseFioArgs(argv: readonly string[]): FioArgs {
  const globals: Record<string, string> = {};
  const jobSections: Record<string, string>[] = [];
  let outputFormat: OutputFormat = 'normal';
  let stack: string | undefined;
  let output: string | undefined;
  let eta: FioArgs['eta'] = 'auto';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--?([a-z_-]+)(?:=(.*))?$/s.exec(a);
    if (!m) throw badArg(`fio: unexpected argument '${a}' (job files are not supported; use --options)`);
    const key = m[1]!;
    let value = m[2];
    if (!VALUED.has(key)) throw badArg(`fio: unrecognized option '--${key}'`);
    if (value === undefined) {
      if (BOOLEAN.has(key)) value = '1';
      else {
        const next = argv[i + 1];
        if (next === undefined) throw badArg(`fio: option '--${key}' requires an argument`);
        value = next;
        i++;
      }
    }
    if (key === 'output-format') {
      const f = value.split(',')[0];
      if (f !== 'normal' && f !== 'json' && f !== 'terse') throw badArg(`fio: --output-format=${value}: expected normal or json`);
      outputFormat = f;
      continue;
    }
    if (key === 'stack') {
      stack = stack === undefined ? value : `${stack};${value}`;
      continue;
    }
    if (key === 'output') {
      output = value;
      continue;
    }
    if (key === 'eta') {
      if (value !== 'never' && value !== 'always' && value !== 'auto') throw badArg(`fio: --eta=${value}: expected never, always or auto`);
      eta = value;
      continue;
    }
    if (key === 'name') jobSections.push({ ...globals, name: value });
    else (jobSections[jobSections.length - 1] ?? globals)[key] = value;
  }
  if (jobSections.length === 0) {
    if (globals['filename'] === undefined && globals['uri'] === undefined) throw badArg('fio: no jobs given (use --name=NAME --filename=DEVICE ...)');
    jobSections.push({ ...globals });
  }
  return { jobs: jobSections.map(buildJob), globals, outputFormat, stack, output, eta };
}

export function isRandom(rw: RwMode): boolean {
  return rw === 'randread' || rw === 'randwrite' || rw === 'randrw';
}

export function hasReads(rw: RwMode): boolean {
  return rw !== 'write' && rw !== 'randwrite';
}

export function hasWrites(rw: RwMode): boolean {
  return rw !== 'read' && rw !== 'randread';
}
