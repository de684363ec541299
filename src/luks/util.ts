// Small helpers shared by the LUKS1 and LUKS2 code.

import { randomFillSync, randomUUID, timingSafeEqual } from 'node:crypto';
import { LuksError } from './errors.js';

export function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  randomFillSync(b);
  return b;
}

export function newUuid(): string {
  return randomUUID();
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A NUL-terminated string in a fixed field. */
export function readCString(b: Uint8Array, off: number, len: number): string {
  const field = b.subarray(off, off + len);
  const end = field.indexOf(0);
  return Buffer.from(field.subarray(0, end < 0 ? len : end)).toString('latin1');
}

/** Writes `s` into a fixed field, NUL padded; throws if it does not fit with its terminator. */
export function writeCString(b: Uint8Array, off: number, len: number, s: string, what: string): void {
  const bytes = Buffer.from(s, 'latin1');
  if (bytes.length >= len) throw new LuksError('ERR_LUKS_ARGUMENT', `${what} '${s}' is too long (at most ${len - 1} characters).`);
  b.fill(0, off, off + len);
  b.set(bytes, off);
}

/** cryptsetup's hex dump: bytes as `xx ` with a line break and `indent` after every `perLine`. */
export function hexDump(b: Uint8Array, perLine: number, indent: string): string {
  let s = '';
  for (let i = 0; i < b.length; i++) {
    if (i > 0 && i % perLine === 0) s += `\n${indent}`;
    s += `${b[i]!.toString(16).padStart(2, '0')} `;
  }
  return s;
}

export function uuidValid(u: string): boolean {
  return /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(u);
}
