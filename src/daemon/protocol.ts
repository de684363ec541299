// The control protocol between the CLI and the daemon: one JSON object per line over a unix
// socket. Requests `{"id":1,"op":"dm.create","args":{...}}`, replies `{"id":1,"ok":true,
// "result":...}` or `{"id":1,"ok":false,"error":{"code","errno","message","context"}}`.
// A malformed line gets an error reply and the connection stays usable.

import type { ErrnoName, ErrorCode } from '../errors.js';
import type { TableLine } from '../dm/table.js';
import { UcryptError } from '../errors.js';

/** The longest request line accepted (a 32 MiB io.write in base64 fits); longer input is refused and the connection closed. */
export const MAX_LINE = 48 << 20;

/** Requests a connection may have waiting for their replies before its socket is paused. */
export const MAX_PENDING = 64;

export interface Request {
  readonly id: number;
  readonly op: string;
  readonly args: Record<string, unknown>;
}

export interface WireError {
  readonly code: ErrorCode;
  readonly errno: ErrnoName;
  readonly message: string;
  readonly context: Record<string, unknown>;
}

export type Reply = { readonly id: number; readonly ok: true; readonly result: unknown } | { readonly id: number; readonly ok: false; readonly error: WireError };

export function parseRequest(line: string): Request {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new UcryptError('ERR_CONTROL_PROTOCOL', 'EINVAL', 'control message is not valid JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new UcryptError('ERR_CONTROL_PROTOCOL', 'EINVAL', 'control message must be a JSON object');
  const o = v as Record<string, unknown>;
  if (typeof o['id'] !== 'number' || !Number.isSafeInteger(o['id'])) throw new UcryptError('ERR_CONTROL_PROTOCOL', 'EINVAL', 'control message needs an integer "id"');
  if (typeof o['op'] !== 'string') throw new UcryptError('ERR_CONTROL_PROTOCOL', 'EINVAL', 'control message needs a string "op"');
  const args = o['args'] ?? {};
  if (typeof args !== 'object' || args === null || Array.isArray(args)) throw new UcryptError('ERR_CONTROL_PROTOCOL', 'EINVAL', '"args" must be a JSON object');
  return { id: o['id'], op: o['op'], args: args as Record<string, unknown> };
}

export function toWireError(err: unknown): WireError {
  if (err instanceof UcryptError) return { code: err.code, errno: err.errno, message: err.message, context: { ...err.context } };
  return { code: 'ERR_DAEMON', errno: 'EIO', message: err instanceof Error ? err.message : String(err), context: {} };
}

export function fromWireError(e: WireError): UcryptError {
  return new UcryptError(e.code, e.errno, e.message, e.context);
}

/** Typed access to request arguments; a wrong type is a protocol error, not a crash. */
export function argString(args: Record<string, unknown>, key: string): string {
  const v = args[key];
  if (typeof v !== 'string') throw new UcryptError('ERR_CONTROL_PROTOCOL', 'EINVAL', `"${key}" must be a string`);
  return v;
}

export function argOptString(args: Record<string, unknown>, key: string): string | undefined {
  return args[key] === undefined ? undefined : argString(args, key);
}

export function argInt(args: Record<string, unknown>, key: string): number {
  const v = args[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new UcryptError('ERR_CONTROL_PROTOCOL', 'EINVAL', `"${key}" must be a non-negative integer`);
  return v;
}

export function argBool(args: Record<string, unknown>, key: string): boolean {
  const v = args[key];
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new UcryptError('ERR_CONTROL_PROTOCOL', 'EINVAL', `"${key}" must be a boolean`);
  return v;
}

export function argStrings(args: Record<string, unknown>, key: string): string[] {
  const v = args[key];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new UcryptError('ERR_CONTROL_PROTOCOL', 'EINVAL', `"${key}" must be an array of strings`);
  return v as string[];
}

/** Table lines as parsed by the client (`lines: [{start, length, type, params}]`). */
export function argLines(args: Record<string, unknown>): TableLine[] {
  const v = args['lines'];
  if (!Array.isArray(v)) throw new UcryptError('ERR_CONTROL_PROTOCOL', 'EINVAL', '"lines" must be an array of table lines');
  return v.map((x: unknown) => {
    if (typeof x !== 'object' || x === null) throw new UcryptError('ERR_CONTROL_PROTOCOL', 'EINVAL', 'a table line must be an object');
    const o = x as Record<string, unknown>;
    return { start: argInt(o, 'start'), length: argInt(o, 'length'), type: argString(o, 'type'), params: argString(o, 'params') };
  });
}
