// NBD protocol constants and codecs (doc/proto.md in NetworkBlockDevice/nbd; section names are
// cited next to each group). Everything on the wire is big-endian. 64-bit fields that hold
// offsets are numbers (exact below 2^53); cookies are opaque and kept as two 32-bit halves so the
// hot path needs no BigInt.

import type { ErrnoName } from '../errors.js';

// "Newstyle negotiation"
export const NBDMAGIC = 0x4e42444d41474943n;
export const IHAVEOPT = 0x49484156454f5054n;
/** "Fixed newstyle negotiation": magic of every option reply. */
export const REPLY_MAGIC = 0x3e889045565a9n;
export const REQUEST_MAGIC = 0x25609513;
export const SIMPLE_REPLY_MAGIC = 0x67446698;
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

// "Handshake flags" / "Client flags"
export const FLAG_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_NO_ZEROES = 1 << 1;
export const FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const FLAG_C_NO_ZEROES = 1 << 1;

// "Transmission flags"
export const TF = {
  HAS_FLAGS: 1 << 0,
  READ_ONLY: 1 << 1,
  SEND_FLUSH: 1 << 2,
  SEND_FUA: 1 << 3,
  ROTATIONAL: 1 << 4,
  SEND_TRIM: 1 << 5,
  SEND_WRITE_ZEROES: 1 << 6,
  SEND_DF: 1 << 7,
  CAN_MULTI_CONN: 1 << 8,
  SEND_RESIZE: 1 << 9,
  SEND_CACHE: 1 << 10,
  SEND_FAST_ZERO: 1 << 11,
} as const;

// "Option types"
export const OPT = {
  EXPORT_NAME: 1,
  ABORT: 2,
  LIST: 3,
  PEEK_EXPORT: 4,
  STARTTLS: 5,
  INFO: 6,
  GO: 7,
  STRUCTURED_REPLY: 8,
  LIST_META_CONTEXT: 9,
  SET_META_CONTEXT: 10,
  EXTENDED_HEADERS: 11,
} as const;

// "Option reply types"
const ERR = 0x80000000;
export const REP = {
  ACK: 1,
  SERVER: 2,
  INFO: 3,
  META_CONTEXT: 4,
  ERR_UNSUP: ERR + 1,
  ERR_POLICY: ERR + 2,
  ERR_INVALID: ERR + 3,
  ERR_PLATFORM: ERR + 4,
  ERR_TLS_REQD: ERR + 5,
  ERR_UNKNOWN: ERR + 6,
  ERR_SHUTDOWN: ERR + 7,
  ERR_BLOCK_SIZE_REQD: ERR + 8,
  ERR_TOO_BIG: ERR + 9,
} as const;

// NBD_REP_INFO types
export const INFO = { EXPORT: 0, NAME: 1, DESCRIPTION: 2, BLOCK_SIZE: 3 } as const;

// "Request types"
export const CMD = {
  READ: 0,
  WRITE: 1,
  DISC: 2,
  FLUSH: 3,
  TRIM: 4,
  CACHE: 5,
  WRITE_ZEROES: 6,
  BLOCK_STATUS: 7,
} as const;

// "Command flags"
export const CMD_FLAG = {
  FUA: 1 << 0,
  NO_HOLE: 1 << 1,
  DF: 1 << 2,
  REQ_ONE: 1 << 3,
  FAST_ZERO: 1 << 4,
} as const;

// "Structured reply flags" and "Structured reply types"
export const REPLY_FLAG_DONE = 1 << 0;
export const REPLY_TYPE = {
  NONE: 0,
  OFFSET_DATA: 1,
  OFFSET_HOLE: 2,
  BLOCK_STATUS: 5,
  ERROR: 0x8001,
  ERROR_OFFSET: 0x8002,
} as const;

// "base:allocation metadata context"
export const STATE_HOLE = 1 << 0;
export const STATE_ZERO = 1 << 1;
export const BASE_ALLOCATION = 'base:allocation';

// "Error values"
export const NBD_ERR = {
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const;

/** Our errno (UcryptError.errno) to the NBD error value ("Error values": EFBIG -> ENOSPC, EROFS -> EPERM). */
export function nbdError(errno: ErrnoName | undefined): number {
  switch (errno) {
    case 'EPERM':
    case 'EROFS':
    case 'EACCES':
      return NBD_ERR.EPERM;
    case 'ENOMEM':
      return NBD_ERR.ENOMEM;
    case 'EINVAL':
    case 'ERANGE':
      return NBD_ERR.EINVAL;
    case 'ENOSPC':
    case 'EFBIG':
      return NBD_ERR.ENOSPC;
    case 'ENOTSUP':
      return NBD_ERR.ENOTSUP;
    case 'ESHUTDOWN':
      return NBD_ERR.ESHUTDOWN;
    default:
      return NBD_ERR.EIO;
  }
}

/** Header sizes. */
export const REQUEST_SIZE = 28;
export const SIMPLE_REPLY_SIZE = 16;
export const STRUCTURED_HEADER_SIZE = 20;
export const OPTION_HEADER_SIZE = 16;
export const OPTION_REPLY_HEADER_SIZE = 20;
/** "Strings ... MUST be no longer than 4096 bytes". */
export const MAX_STRING = 4096;
/** The largest payload any request may carry (the spec's 2^25 interoperability bound). */
export const MAX_PAYLOAD = 32 << 20;

/** The greeting: NBDMAGIC, IHAVEOPT, 16-bit handshake flags. */
export function encodeGreeting(flags: number): Buffer {
  const b = Buffer.allocUnsafe(18);
  b.writeBigUInt64BE(NBDMAGIC, 0);
  b.writeBigUInt64BE(IHAVEOPT, 8);
  b.writeUInt16BE(flags, 16);
  return b;
}

/** A fixed newstyle option reply with its payload. */
export function encodeOptionReply(option: number, type: number, payload?: Uint8Array): Buffer {
  const len = payload?.length ?? 0;
  const b = Buffer.allocUnsafe(OPTION_REPLY_HEADER_SIZE + len);
  b.writeBigUInt64BE(REPLY_MAGIC, 0);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(type >>> 0, 12);
  b.writeUInt32BE(len, 16);
  if (payload) b.set(payload, OPTION_REPLY_HEADER_SIZE);
  return b;
}

export interface OptionHeader {
  readonly option: number;
  readonly length: number;
}

/** Parses an option header; undefined when the magic is wrong. */
export function decodeOptionHeader(b: Uint8Array): OptionHeader | undefined {
  if (b.length < OPTION_HEADER_SIZE) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, OPTION_HEADER_SIZE);
  if (v.getBigUint64(0) !== IHAVEOPT) return undefined;
  return { option: v.getUint32(8), length: v.getUint32(12) };
}

/** NBD_REP_SERVER payload: name length, name, description. */
export function encodeServer(name: string, description = ''): Buffer {
  const n = Buffer.from(name, 'utf8');
  const d = Buffer.from(description, 'utf8');
  const b = Buffer.allocUnsafe(4 + n.length + d.length);
  b.writeUInt32BE(n.length, 0);
  n.copy(b, 4);
  d.copy(b, 4 + n.length);
  return b;
}

export function encodeInfoExport(size: number, flags: number): Buffer {
  const b = Buffer.allocUnsafe(12);
  b.writeUInt16BE(INFO.EXPORT, 0);
  b.writeBigUInt64BE(BigInt(size), 2);
  b.writeUInt16BE(flags, 10);
  return b;
}

export function encodeInfoString(type: number, text: string): Buffer {
  const s = Buffer.from(text, 'utf8');
  const b = Buffer.allocUnsafe(2 + s.length);
  b.writeUInt16BE(type, 0);
  s.copy(b, 2);
  return b;
}

export function encodeInfoBlockSize(minimum: number, preferred: number, maximum: number): Buffer {
  const b = Buffer.allocUnsafe(14);
  b.writeUInt16BE(INFO.BLOCK_SIZE, 0);
  b.writeUInt32BE(minimum, 2);
  b.writeUInt32BE(preferred, 6);
  b.writeUInt32BE(maximum, 10);
  return b;
}

export function encodeMetaContext(id: number, name: string): Buffer {
  const s = Buffer.from(name, 'utf8');
  const b = Buffer.allocUnsafe(4 + s.length);
  b.writeUInt32BE(id, 0);
  s.copy(b, 4);
  return b;
}

/** The reply to NBD_OPT_EXPORT_NAME: size, flags, and 124 zero bytes unless NO_ZEROES. */
export function encodeExportNameReply(size: number, flags: number, noZeroes: boolean): Buffer {
  const b = Buffer.alloc(noZeroes ? 10 : 134);
  b.writeBigUInt64BE(BigInt(size), 0);
  b.writeUInt16BE(flags, 8);
  return b;
}

/** A cursor over an option's payload; every read checks the bounds (NBD_REP_ERR_INVALID otherwise). */
export class OptionReader {
  private pos = 0;
  constructor(private readonly b: Buffer) {}
  get remaining(): number {
    return this.b.length - this.pos;
  }
  u16(): number | undefined {
    if (this.remaining < 2) return undefined;
    const v = this.b.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number | undefined {
    if (this.remaining < 4) return undefined;
    const v = this.b.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  /** A length-prefixed (32-bit) string, at most MAX_STRING bytes. */
  string(): string | undefined {
    const n = this.u32();
    if (n === undefined || n > this.remaining || n > MAX_STRING) return undefined;
    const s = this.b.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
}

export interface InfoRequest {
  readonly name: string;
  readonly requests: number[];
}

/** NBD_OPT_INFO / NBD_OPT_GO data: name, then a 16-bit count of 16-bit information requests. */
export function decodeInfoRequest(data: Buffer): InfoRequest | undefined {
  const r = new OptionReader(data);
  const name = r.string();
  if (name === undefined) return undefined;
  const n = r.u16();
  if (n === undefined || r.remaining !== n * 2) return undefined;
  const requests: number[] = [];
  for (let i = 0; i < n; i++) requests.push(r.u16()!);
  return { name, requests };
}

export interface MetaContextRequest {
  readonly name: string;
  readonly queries: string[];
}

/** NBD_OPT_LIST/SET_META_CONTEXT data: export name, 32-bit query count, length-prefixed queries. */
export function decodeMetaContextRequest(data: Buffer): MetaContextRequest | undefined {
  const r = new OptionReader(data);
  const name = r.string();
  if (name === undefined) return undefined;
  const n = r.u32();
  if (n === undefined) return undefined;
  const queries: string[] = [];
  for (let i = 0; i < n; i++) {
    const q = r.string();
    if (q === undefined) return undefined;
    queries.push(q);
  }
  return r.remaining === 0 ? { name, queries } : undefined;
}

/** A transmission request header, decoded from a 28-byte buffer. */
export interface RequestHeader {
  flags: number;
  type: number;
  cookieHi: number;
  cookieLo: number;
  offset: number;
  length: number;
}

/** Decodes a request header at `pos`; returns false when the magic is wrong. */
export function decodeRequest(b: Buffer, pos: number, out: RequestHeader): boolean {
  if (b.readUInt32BE(pos) !== REQUEST_MAGIC) return false;
  out.flags = b.readUInt16BE(pos + 4);
  out.type = b.readUInt16BE(pos + 6);
  out.cookieHi = b.readUInt32BE(pos + 8);
  out.cookieLo = b.readUInt32BE(pos + 12);
  out.offset = b.readUInt32BE(pos + 16) * 0x100000000 + b.readUInt32BE(pos + 20);
  out.length = b.readUInt32BE(pos + 24);
  return true;
}

export function encodeRequest(b: Buffer, pos: number, h: RequestHeader): void {
  b.writeUInt32BE(REQUEST_MAGIC, pos);
  b.writeUInt16BE(h.flags, pos + 4);
  b.writeUInt16BE(h.type, pos + 6);
  b.writeUInt32BE(h.cookieHi >>> 0, pos + 8);
  b.writeUInt32BE(h.cookieLo >>> 0, pos + 12);
  b.writeUInt32BE(Math.floor(h.offset / 0x100000000), pos + 16);
  b.writeUInt32BE(h.offset >>> 0, pos + 20);
  b.writeUInt32BE(h.length >>> 0, pos + 24);
}

/** A simple reply header (16 bytes) at `pos`. */
export function encodeSimpleReply(b: Buffer, pos: number, error: number, cookieHi: number, cookieLo: number): void {
  b.writeUInt32BE(SIMPLE_REPLY_MAGIC, pos);
  b.writeUInt32BE(error, pos + 4);
  b.writeUInt32BE(cookieHi, pos + 8);
  b.writeUInt32BE(cookieLo, pos + 12);
}

/** A structured reply chunk header (20 bytes) at `pos`. */
export function encodeStructuredHeader(b: Buffer, pos: number, flags: number, type: number, cookieHi: number, cookieLo: number, length: number): void {
  b.writeUInt32BE(STRUCTURED_REPLY_MAGIC, pos);
  b.writeUInt16BE(flags, pos + 4);
  b.writeUInt16BE(type, pos + 6);
  b.writeUInt32BE(cookieHi, pos + 8);
  b.writeUInt32BE(cookieLo, pos + 12);
  b.writeUInt32BE(length, pos + 16);
}

/** A whole NBD_REPLY_TYPE_ERROR chunk with a message (truncated to MAX_STRING bytes), flagged DONE. */
export function encodeErrorChunk(error: number, cookieHi: number, cookieLo: number, message: string): Buffer {
  let msg = Buffer.from(message, 'utf8');
  if (msg.length > MAX_STRING) msg = msg.subarray(0, MAX_STRING);
  const b = Buffer.allocUnsafe(STRUCTURED_HEADER_SIZE + 6 + msg.length);
  encodeStructuredHeader(b, 0, REPLY_FLAG_DONE, REPLY_TYPE.ERROR, cookieHi, cookieLo, 6 + msg.length);
  b.writeUInt32BE(error, 20);
  b.writeUInt16BE(msg.length, 24);
  msg.copy(b, 26);
  return b;
}

/** Transmission flags of an export with these limits (see server.ts for CAN_MULTI_CONN). */
export function transmissionFlags(limits: { readOnly: boolean; discard: boolean }, structured: boolean): number {
  let f = TF.HAS_FLAGS | TF.SEND_FLUSH | TF.SEND_FUA | TF.SEND_CACHE | TF.CAN_MULTI_CONN;
  if (limits.readOnly) f |= TF.READ_ONLY;
  else {
    f |= TF.SEND_WRITE_ZEROES | TF.SEND_FAST_ZERO;
    if (limits.discard) f |= TF.SEND_TRIM;
  }
  if (structured) f |= TF.SEND_DF;
  return f;
}
