// fio's number parsing and printing: sizes with k/m/g (and KiB/MiB/... or kB/MB with
// kb_base), times with us/ms/s/m/h/d (seconds by default), and num2str (lib/num2str.c), which
// prints every figure of fio's output with `sig_figs` significant digits and unit switching.

import { UcryptError } from '../errors.js';

const badArg = (msg: string): UcryptError => new UcryptError('ERR_BAD_ARGUMENT', 'EINVAL', msg);

const SIZE_POW: Record<string, number> = { '': 0, k: 1, m: 2, g: 3, t: 4, p: 5, e: 6 };

/**
 * A size as fio's str_to_decimal reads it with the default kb_base=1024: `4096`, `4k`, `4kB`,
 * `4K`, `1m`, `2g` are powers of 1024. fio's compatibility rule inverts the IEC spelling:
 * `1mi`/`1MiB` means 10^6 (HOWTO, "Parameter types": "1 MB: 1000000, 1mi, 1000ki"). Returns bytes.
 */
export function parseSize(text: string, what = 'size'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtpe]?)(i?)(b?)\s*$/i.exec(text);
  if (!m) throw badArg(`${what}: '${text}' is not a size (examples: 4096, 4k, 1m, 1MiB, 2g)`);
  const num = Number(m[1]);
  const pow = SIZE_POW[m[2]!.toLowerCase()]!;
  const bytes = Math.round(num * (m[3] ? 1000 : 1024) ** pow);
  if (!Number.isSafeInteger(bytes)) throw badArg(`${what}: '${text}' is too large`);
  return bytes;
}

/** An offset or size that may also be a percentage of the device (`--offset=50%`). */
export type SizeOrPercent = { readonly bytes: number } | { readonly percent: number };

export function parseSizeOrPercent(text: string, what: string): SizeOrPercent {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(text);
  if (m) {
    const percent = Number(m[1]);
    if (percent > 100) throw badArg(`${what}: '${text}' is more than 100%`);
    return { percent };
  }
  return { bytes: parseSize(text, what) };
}

const TIME_US: Record<string, number> = { us: 1, usec: 1, ms: 1000, msec: 1000, s: 1e6, sec: 1e6, m: 60e6, min: 60e6, h: 3600e6, d: 86400e6 };

/** A time as fio reads `runtime`/`ramp_time` (check_str_time): seconds unless a unit is given. Returns microseconds. */
export function parseTime(text: string, what = 'time'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (!m) throw badArg(`${what}: '${text}' is not a time (examples: 10, 10s, 500ms, 3m, 1h)`);
  const unit = m[2]!.toLowerCase();
  const mult = unit === '' ? 1e6 : TIME_US[unit];
  if (mult === undefined) throw badArg(`${what}: unknown time unit '${m[2]}' (us, ms, s, m, h, d)`);
  return Math.round(Number(m[1]) * mult);
}

/** Units of num2str (enum n2s_unit). */
export type N2sUnit = 'none' | 'persec' | 'byte' | 'bit' | 'bytepersec' | 'bitpersec';
const UNIT_STR: Record<N2sUnit, string> = { none: '', persec: '/s', byte: 'B', bit: 'bit', bytepersec: 'B/s', bitpersec: 'bit/s' };
const SI = ['', 'k', 'M', 'G', 'T', 'P', 'E'];
const IEC = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

/**
 * fio's num2str(num, maxlen, base, pow2, units): divides by 1000 (or 1024) until the integer
 * part has at most `maxlen` digits, then shows as many decimals as still fit.
 */
export function num2str(value: number, maxlen: number, base: number, pow2: boolean, units: N2sUnit): string {
  const thousand = pow2 ? 1024 : 1000;
  const prefixes = pow2 ? IEC : SI;
  let num = Math.max(0, Math.floor(value));
  let post = 0;
  for (let b = base; b > 1; post++) b = Math.floor(b / thousand);
  if (units === 'bit' || units === 'bitpersec') num *= 8;
  let modulo = -1;
  let carry = false;
  while (post < SI.length) {
    if (String(num).length <= maxlen) break;
    modulo = num % thousand;
    num = Math.floor(num / thousand);
    carry = modulo >= thousand / 2;
    post++;
  }
  if (post >= SI.length) post = 0;
  const done = (n: number): string => `${n}${prefixes[post]}${UNIT_STR[units]}`;
  if (modulo === -1) return done(num);
  const intLen = String(num).length;
  if (maxlen - intLen <= 1) return done(carry ? num + 1 : num);
  const frac = (modulo / thousand).toFixed(maxlen - intLen - 1);
  if (frac[0] === '1') num++;
  return `${num}.${frac.slice(2)}${prefixes[post]}${UNIT_STR[units]}`;
}

/** C's `%5.02f`-style formatting: fixed decimals, right-aligned to a minimum width. */
export function fixed(value: number, decimals: number, width = 0): string {
  return value.toFixed(decimals).padStart(width);
}

/** `%Nllu`. */
export function padInt(value: number, width: number): string {
  return String(Math.floor(value)).padStart(width);
}
