// A small NBD client over raw sockets for the protocol tests: it speaks exactly what a test asks
// (including malformed messages) and parses whatever the server sends back.

import type { Duplex } from 'node:stream';
import { createConnection } from 'node:net';
import {
  CMD, IHAVEOPT, OPT, REPLY_MAGIC, REQUEST_MAGIC, SIMPLE_REPLY_MAGIC, STRUCTURED_REPLY_MAGIC,
} from '../../src/nbd/protocol.js';

export interface OptionReply {
  option: number;
  type: number;
  data: Buffer;
}

export interface Chunk {
  flags: number;
  type: number;
  data: Buffer;
}

export interface Reply {
  cookie: bigint;
  /** Simple reply error, or the first error chunk's error (0 when none). */
  error: number;
  /** Read data (simple reply with data, or reassembled OFFSET_DATA chunks). */
  data: Buffer | undefined;
  chunks: Chunk[];
  message: string;
}

export class RawClient {
  private buf: Buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  ended = false;
  structured = false;
  /** Read lengths by cookie, needed to parse simple read replies. */
  readonly readLengths = new Map<bigint, number>();

  private constructor(readonly sock: Duplex) {
    sock.on('data', (c: Buffer) => {
      this.buf = this.buf.length === 0 ? c : Buffer.concat([this.buf, c]);
      this.wakeAll();
    });
    sock.on('end', () => {
      this.ended = true;
      this.wakeAll();
    });
    sock.on('close', () => {
      this.ended = true;
      this.wakeAll();
    });
    sock.on('error', () => undefined);
  }

  private wakeAll(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** A client over an already negotiated stream (a TLSSocket after STARTTLS). */
  static wrap(stream: Duplex): RawClient {
    return new RawClient(stream);
  }

  static connect(path: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = createConnection(path);
      s.once('connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  async read(n: number, timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.buf.length < n) {
      if (this.ended) throw new Error(`connection closed (wanted ${n} bytes, have ${this.buf.length})`);
      if (Date.now() > deadline) throw new Error(`timeout waiting for ${n} bytes`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Resolves true when the server closes the connection without sending anything more. */
  async closedByServer(timeoutMs = 3000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.ended && this.buf.length === 0;
  }

  write(b: Uint8Array): void {
    this.sock.write(b);
  }

  /** Greeting and client flags; returns the handshake flags. */
  async hello(clientFlags = 3): Promise<number> {
    const g = await this.read(18);
    if (g.readBigUInt64BE(0) !== 0x4e42444d41474943n || g.readBigUInt64BE(8) !== IHAVEOPT) throw new Error('bad greeting');
    const f = Buffer.alloc(4);
    f.writeUInt32BE(clientFlags);
    this.write(f);
    return g.readUInt16BE(16);
  }

  sendOption(option: number, data: Uint8Array = Buffer.alloc(0), magic = IHAVEOPT): void {
    const h = Buffer.alloc(16);
    h.writeBigUInt64BE(magic, 0);
    h.writeUInt32BE(option, 8);
    h.writeUInt32BE(data.length, 12);
    this.write(Buffer.concat([h, data]));
  }

  async optionReply(): Promise<OptionReply> {
    const h = await this.read(20);
    if (h.readBigUInt64BE(0) !== REPLY_MAGIC) throw new Error('bad option reply magic');
    const len = h.readUInt32BE(16);
    return { option: h.readUInt32BE(8), type: h.readUInt32BE(12), data: len ? Buffer.from(await this.read(len)) : Buffer.alloc(0) };
  }

  /** Replies up to and including the first that is not REP_INFO/SERVER/META_CONTEXT. */
  async optionReplies(): Promise<OptionReply[]> {
    const out: OptionReply[] = [];
    for (;;) {
      const r = await this.optionReply();
      out.push(r);
      if (r.type !== 2 && r.type !== 3 && r.type !== 4) return out;
    }
  }

  async option(option: number, data?: Uint8Array): Promise<OptionReply[]> {
    this.sendOption(option, data);
    return this.optionReplies();
  }

  /** STRUCTURED_REPLY (optional), SET_META_CONTEXT base:allocation (optional), GO. */
  async go(name: string, opts: { structured?: boolean; meta?: boolean; infos?: number[] } = {}): Promise<OptionReply[]> {
    if (opts.structured) {
      const r = await this.option(OPT.STRUCTURED_REPLY);
      if (r[0]!.type !== 1) throw new Error('structured replies refused');
      this.structured = true;
    }
    if (opts.meta) await this.option(OPT.SET_META_CONTEXT, metaRequest(name, ['base:allocation']));
    return this.option(OPT.GO, infoRequest(name, opts.infos ?? [3]));
  }

  request(type: number, cookie: bigint, offset: number, length: number, flags = 0, payload?: Uint8Array): void {
    const h = Buffer.alloc(28);
    h.writeUInt32BE(REQUEST_MAGIC, 0);
    h.writeUInt16BE(flags, 4);
    h.writeUInt16BE(type, 6);
    h.writeBigUInt64BE(cookie, 8);
    h.writeBigUInt64BE(BigInt(offset), 16);
    h.writeUInt32BE(length, 24);
    if (type === CMD.READ) this.readLengths.set(cookie, length);
    this.write(payload ? Buffer.concat([h, payload]) : h);
  }

  /** One complete reply (all structured chunks up to DONE). */
  async reply(): Promise<Reply> {
    const m = (await this.read(4)).readUInt32BE(0);
    if (m === SIMPLE_REPLY_MAGIC) {
      const h = await this.read(12);
      const error = h.readUInt32BE(0);
      const cookie = h.readBigUInt64BE(4);
      const rl = this.readLengths.get(cookie);
      this.readLengths.delete(cookie);
      const data = rl !== undefined && error === 0 && !this.structured ? Buffer.from(await this.read(rl)) : undefined;
      return { cookie, error, data, chunks: [], message: '' };
    }
    if (m !== STRUCTURED_REPLY_MAGIC) throw new Error(`bad reply magic 0x${m.toString(16)}`);
    const chunks: Chunk[] = [];
    let cookie = 0n;
    let error = 0;
    let message = '';
    let data: Buffer | undefined;
    for (let first = true; ; first = false) {
      if (!first) {
        const m2 = (await this.read(4)).readUInt32BE(0);
        if (m2 !== STRUCTURED_REPLY_MAGIC) throw new Error('bad chunk magic');
      }
      const h = await this.read(16);
      const flags = h.readUInt16BE(0);
      const type = h.readUInt16BE(2);
      cookie = h.readBigUInt64BE(4);
      const len = h.readUInt32BE(12);
      const payload = len ? Buffer.from(await this.read(len)) : Buffer.alloc(0);
      chunks.push({ flags, type, data: payload });
      if (type & 0x8000) {
        if (!error) error = payload.readUInt32BE(0);
        message = payload.toString('utf8', 6, 6 + payload.readUInt16BE(4));
      } else if (type === 1) {
        data = data ? Buffer.concat([data, payload.subarray(8)]) : payload.subarray(8);
      }
      if (flags & 1) break;
    }
    this.readLengths.delete(cookie);
    return { cookie, error, data, chunks, message };
  }

  close(): void {
    this.sock.destroy();
  }
}

export function infoRequest(name: string, infos: number[]): Buffer {
  const n = Buffer.from(name, 'utf8');
  const b = Buffer.alloc(4 + n.length + 2 + 2 * infos.length);
  b.writeUInt32BE(n.length, 0);
  n.copy(b, 4);
  b.writeUInt16BE(infos.length, 4 + n.length);
  infos.forEach((t, i) => b.writeUInt16BE(t, 6 + n.length + 2 * i));
  return b;
}

export function metaRequest(name: string, queries: string[]): Buffer {
  const parts: Buffer[] = [];
  const n = Buffer.from(name, 'utf8');
  const h = Buffer.alloc(4);
  h.writeUInt32BE(n.length);
  parts.push(h, n);
  const c = Buffer.alloc(4);
  c.writeUInt32BE(queries.length);
  parts.push(c);
  for (const q of queries) {
    const qb = Buffer.from(q, 'utf8');
    const l = Buffer.alloc(4);
    l.writeUInt32BE(qb.length);
    parts.push(l, qb);
  }
  return Buffer.concat(parts);
}

/** NBD_REP_INFO payloads by information type. */
export function infos(replies: OptionReply[]): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  for (const r of replies) if (r.type === 3) m.set(r.data.readUInt16BE(0), r.data.subarray(2));
  return m;
}
