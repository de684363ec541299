// The kernel's string helpers as crypt_ctr uses them, so edge cases parse exactly as on Linux:
// vsscanf's unsigned conversions (lib/vsprintf.c: leading isspace skipped, no sign, digits wrap
// modulo 2^64, then truncated to the destination width), hex2bin (lib/hexdump.c), strcasecmp and
// strsep.

const U64 = (1n << 64n) - 1n;

/** The kernel's isspace (lib/ctype.c): \t \n \v \f \r, space and Latin-1 NBSP. */
export function kIsSpace(code: number): boolean {
  return (code >= 9 && code <= 13) || code === 32 || code === 160;
}

export interface ScannedNumber {
  /** The value modulo 2^64 (simple_strntoull ignores overflow). */
  readonly value: bigint;
  /** Index just past the digits. */
  readonly end: number;
}

/** One `%u`-style conversion at `pos`: skips spaces, needs a digit, reads every digit. */
export function scanUnsigned(s: string, pos: number): ScannedNumber | undefined {
  let i = pos;
  while (i < s.length && kIsSpace(s.charCodeAt(i))) i++;
  const start = i;
  let v = 0n;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) break;
    v = (v * 10n + BigInt(c - 48)) & U64;
    i++;
  }
  return i === start ? undefined : { value: v, end: i };
}

/**
 * `sscanf(s, "<prefix>%<width>u%c", &v, &dummy) == 1`: the prefix matches literally, a number
 * follows and nothing after it. Returns the number truncated to `bits`, or undefined.
 */
export function scanExact(s: string, bits: 16 | 32 | 64, prefix = ''): bigint | undefined {
  if (!s.startsWith(prefix)) return undefined;
  const n = scanUnsigned(s, prefix.length);
  if (!n || n.end !== s.length) return undefined;
  return BigInt.asUintN(bits, n.value);
}

/** The part of hex_to_bin: a hex digit's value, or -1. */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

/**
 * hex2bin: decodes `count` bytes from `src` into `dst`, stopping at the first bad digit (bytes
 * before it are already written, as in the kernel). Returns false on a bad digit.
 */
export function hex2bin(dst: Uint8Array, src: string, count: number): boolean {
  for (let i = 0; i < count; i++) {
    const hi = hexValue(src.charCodeAt(2 * i));
    const lo = hexValue(src.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) return false;
    dst[i] = (hi << 4) | lo;
  }
  return true;
}

/** hex2asc as crypt_status uses it: lower-case hex of every byte. */
export function bin2hex(src: Uint8Array): string {
  let out = '';
  for (let i = 0; i < src.length; i++) out += (src[i]! < 16 ? '0' : '') + src[i]!.toString(16);
  return out;
}

/** strcasecmp(a, b) == 0 for ASCII (the kernel folds only A-Z). */
export function strcaseeq(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x >= 65 && x <= 90) x |= 0x20;
    if (y >= 65 && y <= 90) y |= 0x20;
    if (x !== y) return false;
  }
  return true;
}

/**
 * strsep(&rest, delims) over an optional string: returns [token, rest] where rest is undefined
 * when no delimiter was found (and token undefined when the input was).
 */
export function strsep(s: string | undefined, delim: string): [string | undefined, string | undefined] {
  if (s === undefined) return [undefined, undefined];
  const i = s.indexOf(delim);
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

/** strlen of the bytes the kernel would see (the table is passed as UTF-8). */
export function kStrlen(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}
