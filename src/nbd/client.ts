// An NBD client (doc/proto.md): fixed newstyle handshake with NBD_OPT_GO (NBD_OPT_EXPORT_NAME
// when the server predates it), simple replies, and pipelined READ/WRITE/FLUSH matched to their
// requests by cookie, over a unix socket or TCP. What `ucrypt fio` drives devices through.
//
//   request  (28 B): magic 0x25609513 | flags u16 | type u16 | cookie u64 | offset u64 | length u32 | [data]
//   reply    (16 B): magic 0x67446698 | error u32 | cookie u64 | [data, for a successful READ]
//
// Requests issued in the same tick are corked into one writev; replies are parsed from the
// socket's chunks straight into the caller's buffers (no copy of the stream, no per-chunk
// concatenation).

import type { Socket } from 'node:net';
import { createConnection } from 'node:net';
import {
  CMD,
  CMD_FLAG,
  FLAG_C_FIXED_NEWSTYLE,
  FLAG_C_NO_ZEROES,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT,
  INFO,
  NBDMAGIC,
  OPT,
  REP,
  REPLY_MAGIC,
  REQUEST_MAGIC,
  REQUEST_SIZE,
  SIMPLE_REPLY_MAGIC,
  SIMPLE_REPLY_SIZE,
  TF,
} from './protocol.js';

/** Where an export is: `nbd+unix:///NAME?socket=PATH` or `nbd://HOST[:PORT]/NAME`. */
export type NbdAddress =
  | { readonly transport: 'unix'; readonly socket: string; readonly name: string }
  | { readonly transport: 'tcp'; readonly host: string; readonly port: number; readonly name: string };

/** NBD error values (doc/proto.md "Error values") and their errno names. */
const NBD_ERRNO: Record<number, string> = { 1: 'EPERM', 5: 'EIO', 12: 'ENOMEM', 22: 'EINVAL', 28: 'ENOSPC', 75: 'EOVERFLOW', 95: 'ENOTSUP', 108: 'ESHUTDOWN' };
const STRERROR: Record<string, string> = {
  EPERM: 'Operation not permitted',
  EIO: 'Input/output error',
  ENOMEM: 'Cannot allocate memory',
  EINVAL: 'Invalid argument',
  ENOSPC: 'No space left on device',
  EOVERFLOW: 'Value too large for defined data type',
  ENOTSUP: 'Operation not supported',
  ESHUTDOWN: 'Cannot send after transport endpoint shutdown',
};

/** A failure of the NBD connection or of one request; `errno` is the Linux errno number. */
export class NbdError extends Error {
  constructor(
    message: string,
    readonly errno: number,
    readonly code: string = NBD_ERRNO[errno] ?? 'EIO',
  ) {
    super(message);
    this.name = 'NbdError';
  }
}

export function isNbdUri(text: string): boolean {
  return /^nbds?(\+unix|\+tcp)?:\/\//.test(text);
}

/** Parses an NBD URI (the NBD URI spec, doc/uri.md); TLS (`nbds`) is refused. */
export function parseNbdUri(uri: string): NbdAddress {
  const m = /^(nbds?)(?:\+(unix|tcp))?:\/\/([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/.exec(uri);
  if (!m) throw new NbdError(`'${uri}' is not an NBD URI (nbd+unix:///NAME?socket=PATH or nbd://HOST:PORT/NAME)`, 22);
  if (m[1] === 'nbds') throw new NbdError(`${uri}: TLS is not supported by this client`, 95);
  const name = decodeURIComponent((m[4] ?? '/').slice(1));
  const query = new URLSearchParams(m[5] ?? '');
  if (m[2] === 'unix') {
    const socket = query.get('socket');
    if (!socket) throw new NbdError(`${uri}: nbd+unix:// needs ?socket=PATH`, 22);
    return { transport: 'unix', socket, name };
  }
  const hp = /^(?:\[([^\]]+)\]|([^:]*))(?::(\d+))?$/.exec(m[3]!);
  if (!hp) throw new NbdError(`${uri}: bad host:port`, 22);
  const host = hp[1] ?? (hp[2] || 'localhost');
  return { transport: 'tcp', host, port: hp[3] ? Number(hp[3]) : 10809, name };
}

export function formatNbdUri(a: NbdAddress): string {
  return a.transport === 'unix' ? `nbd+unix:///${encodeURIComponent(a.name)}?socket=${a.socket}` : `nbd://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}/${encodeURIComponent(a.name)}`;
}

interface Pending {
  type: number;
  buf: Uint8Array | undefined;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Buffered reads for the handshake phase. */
class HandshakeReader {
  private chunks: Buffer[] = [];
  private have = 0;
  private waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private failed: Error | undefined;

  constructor(private readonly sock: Socket) {
    sock.on('data', this.onData);
  }

  private readonly onData = (c: Buffer): void => {
    this.chunks.push(c);
    this.have += c.length;
    this.pump();
  };

  fail(err: Error): void {
    this.failed = err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }

  private pump(): void {
    const w = this.waiter;
    if (!w || this.have < w.n) return;
    this.waiter = undefined;
    const all = Buffer.concat(this.chunks);
    this.chunks = all.length > w.n ? [all.subarray(w.n)] : [];
    this.have = all.length - w.n;
    w.resolve(all.subarray(0, w.n));
  }

  read(n: number): Promise<Buffer> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject };
      this.pump();
    });
  }

  /** Stops reading and returns what arrived beyond the handshake. */
  detach(): Buffer {
    this.sock.off('data', this.onData);
    const rest = Buffer.concat(this.chunks);
    this.chunks = [];
    this.have = 0;
    return rest;
  }
}

export interface NbdConnectOptions {
  /** Milliseconds to wait for the connection and handshake (default 10 s). */
  readonly timeoutMs?: number;
}

export class NbdClient {
  /** Export size in bytes. */
  size = 0;
  /** Transmission flags (TF.*). */
  flags = 0;
  /** NBD_INFO_BLOCK_SIZE, when the server sent it. */
  blockSize: { minimum: number; preferred: number; maximum: number } | undefined;

  private readonly pending = new Map<number, Pending>();
  private nextCookie = 1;
  private corked = false;
  private closed: Error | undefined;
  // Reply parser state.
  private readonly hdr = Buffer.alloc(SIMPLE_REPLY_SIZE);
  private hdrFill = 0;
  private payload: Pending | undefined;
  private payloadCookie = 0;
  private payloadFill = 0;

  private constructor(
    private readonly sock: Socket,
    readonly address: NbdAddress,
  ) {}

  get readOnly(): boolean {
    return (this.flags & TF.READ_ONLY) !== 0;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Connects and negotiates the export; rejects with NbdError on refusal. */
  static async connect(target: string | NbdAddress, opts: NbdConnectOptions = {}): Promise<NbdClient> {
    const address = typeof target === 'string' ? parseNbdUri(target) : target;
    const sock = address.transport === 'unix' ? createConnection(address.socket) : createConnection(address.port, address.host);
    const timeout = setTimeout(() => sock.destroy(new NbdError(`${formatNbdUri(address)}: connection timed out`, 110)), opts.timeoutMs ?? 10000);
    const reader = new HandshakeReader(sock);
    const onError = (err: Error): void => reader.fail(err instanceof NbdError ? err : new NbdError(`${formatNbdUri(address)}: ${err.message}`, errnoOfSystem(err)));
    const onClose = (): void => reader.fail(new NbdError(`${formatNbdUri(address)}: the server closed the connection during the handshake`, 104));
    sock.on('error', onError);
    sock.on('close', onClose);
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once('connect', resolve);
        sock.once('error', reject);
      }).catch((err: Error) => {
        throw new NbdError(`${formatNbdUri(address)}: ${err.message}`, errnoOfSystem(err));
      });
      if (address.transport === 'tcp') sock.setNoDelay(true);
      const client = new NbdClient(sock, address);
      await client.handshake(reader);
      sock.off('error', onError);
      sock.off('close', onClose);
      client.attach(reader.detach());
      return client;
    } catch (err) {
      sock.destroy();
      throw err;
    } finally {
      clearTimeout(timeout);
    }
  }

  private async handshake(r: HandshakeReader): Promise<void> {
    const where = formatNbdUri(this.address);
    const g = await r.read(18);
    if (g.readBigUInt64BE(0) !== NBDMAGIC) throw new NbdError(`${where}: not an NBD server (bad magic)`, 71);
    if (g.readBigUInt64BE(8) !== IHAVEOPT) throw new NbdError(`${where}: the server speaks oldstyle NBD, which this client does not`, 95);
    const hflags = g.readUInt16BE(16);
    const fixed = (hflags & FLAG_FIXED_NEWSTYLE) !== 0;
    const noZeroes = (hflags & FLAG_NO_ZEROES) !== 0;
    const cflags = Buffer.alloc(4);
    cflags.writeUInt32BE((fixed ? FLAG_C_FIXED_NEWSTYLE : 0) | (noZeroes ? FLAG_C_NO_ZEROES : 0));
    this.sock.write(cflags);
    const name = Buffer.from(this.address.name, 'utf8');
    if (fixed) {
      // NBD_OPT_GO: name, one information request (NBD_INFO_BLOCK_SIZE).
      const data = Buffer.alloc(4 + name.length + 2 + 2);
      data.writeUInt32BE(name.length, 0);
      name.copy(data, 4);
      data.writeUInt16BE(1, 4 + name.length);
      data.writeUInt16BE(INFO.BLOCK_SIZE, 6 + name.length);
      this.sendOption(OPT.GO, data);
      for (;;) {
        const h = await r.read(20);
        if (h.readBigUInt64BE(0) !== REPLY_MAGIC) throw new NbdError(`${where}: bad option reply magic`, 71);
        const type = h.readUInt32BE(12);
        const len = h.readUInt32BE(16);
        const p = len > 0 ? await r.read(len) : Buffer.alloc(0);
        if (type === REP.ACK) break;
        if (type === REP.INFO) {
          const info = p.readUInt16BE(0);
          if (info === INFO.EXPORT && p.length >= 12) {
            this.size = Number(p.readBigUInt64BE(2));
            this.flags = p.readUInt16BE(10);
          } else if (info === INFO.BLOCK_SIZE && p.length >= 14) {
            this.blockSize = { minimum: p.readUInt32BE(2), preferred: p.readUInt32BE(6), maximum: p.readUInt32BE(10) };
          }
          continue;
        }
        if (type === REP.ERR_UNSUP) return this.exportName(r, name, noZeroes);
        if (type & 0x80000000) {
          const msg = p.length > 0 ? `: ${p.toString('utf8')}` : '';
          const what = type === REP.ERR_UNKNOWN ? `export '${this.address.name}' not found` : `option refused (reply type 0x${type.toString(16)})`;
          throw new NbdError(`${where}: ${what}${msg}`, type === REP.ERR_UNKNOWN ? 2 : type === REP.ERR_POLICY ? 1 : 22);
        }
        // Other replies (NBD_REP_SERVER...) are ignored, as the spec allows.
      }
      return;
    }
    await this.exportName(r, name, noZeroes);
  }

  private async exportName(r: HandshakeReader, name: Buffer, noZeroes: boolean): Promise<void> {
    this.sendOption(OPT.EXPORT_NAME, name);
    const p = await r.read(noZeroes ? 10 : 134);
    this.size = Number(p.readBigUInt64BE(0));
    this.flags = p.readUInt16BE(8);
  }

  private sendOption(option: number, data: Buffer): void {
    const h = Buffer.alloc(16);
    h.writeBigUInt64BE(IHAVEOPT, 0);
    h.writeUInt32BE(option, 8);
    h.writeUInt32BE(data.length, 12);
    this.sock.write(Buffer.concat([h, data]));
  }

  private attach(rest: Buffer): void {
    this.sock.on('data', (c: Buffer) => this.onData(c));
    this.sock.on('error', (err) => this.failAll(new NbdError(`${formatNbdUri(this.address)}: ${err.message}`, errnoOfSystem(err))));
    this.sock.on('close', () => this.failAll(new NbdError(`${formatNbdUri(this.address)}: the server closed the connection`, 104)));
    if (rest.length > 0) this.onData(rest);
  }

  private failAll(err: NbdError): void {
    this.closed ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.payload = undefined;
  }

  private onData(c: Buffer): void {
    let pos = 0;
    while (pos < c.length) {
      const p = this.payload;
      if (p) {
        const buf = p.buf!;
        const n = Math.min(buf.length - this.payloadFill, c.length - pos);
        buf.set(c.subarray(pos, pos + n), this.payloadFill);
        this.payloadFill += n;
        pos += n;
        if (this.payloadFill === buf.length) {
          this.payload = undefined;
          this.pending.delete(this.payloadCookie);
          p.resolve();
        }
        continue;
      }
      const n = Math.min(SIMPLE_REPLY_SIZE - this.hdrFill, c.length - pos);
      c.copy(this.hdr, this.hdrFill, pos, pos + n);
      this.hdrFill += n;
      pos += n;
      if (this.hdrFill < SIMPLE_REPLY_SIZE) break;
      this.hdrFill = 0;
      const magic = this.hdr.readUInt32BE(0);
      if (magic !== SIMPLE_REPLY_MAGIC) {
        this.protocolError(`unexpected reply magic 0x${magic.toString(16)}`);
        return;
      }
      const error = this.hdr.readUInt32BE(4);
      const cookie = this.hdr.readUInt32BE(12);
      const req = this.pending.get(cookie);
      if (!req || this.hdr.readUInt32BE(8) !== 0) {
        this.protocolError(`reply to unknown cookie ${cookie}`);
        return;
      }
      if (error !== 0) {
        this.pending.delete(cookie);
        const name = NBD_ERRNO[error] ?? 'EIO';
        req.reject(new NbdError(`${STRERROR[name] ?? `NBD error ${error}`}`, error, name));
      } else if (req.type === CMD.READ && req.buf && req.buf.length > 0) {
        this.payload = req;
        this.payloadCookie = cookie;
        this.payloadFill = 0;
      } else {
        this.pending.delete(cookie);
        req.resolve();
      }
    }
  }

  private protocolError(what: string): void {
    const err = new NbdError(`${formatNbdUri(this.address)}: protocol error: ${what}`, 71);
    this.failAll(err);
    this.sock.destroy();
  }

  private uncork = (): void => {
    this.corked = false;
    this.sock.uncork();
  };

  private submit(type: number, flags: number, offset: number, length: number, buf: Uint8Array | undefined, data: Uint8Array | undefined): Promise<void> {
    if (this.closed) return Promise.reject(this.closed);
    const cookie = this.nextCookie;
    this.nextCookie = this.nextCookie >= 0x7fffffff ? 1 : this.nextCookie + 1;
    const h = Buffer.allocUnsafe(REQUEST_SIZE);
    h.writeUInt32BE(REQUEST_MAGIC, 0);
    h.writeUInt16BE(flags, 4);
    h.writeUInt16BE(type, 6);
    h.writeUInt32BE(0, 8);
    h.writeUInt32BE(cookie, 12);
    h.writeUInt32BE(Math.floor(offset / 0x100000000), 16);
    h.writeUInt32BE(offset >>> 0, 20);
    h.writeUInt32BE(length, 24);
    if (!this.corked) {
      this.corked = true;
      this.sock.cork();
      process.nextTick(this.uncork);
    }
    this.sock.write(h);
    if (data) this.sock.write(data);
    return new Promise<void>((resolve, reject) => {
      this.pending.set(cookie, { type, buf, resolve, reject });
    });
  }

  read(offset: number, buf: Uint8Array): Promise<void> {
    return this.submit(CMD.READ, 0, offset, buf.length, buf, undefined);
  }

  write(offset: number, buf: Uint8Array, flags?: { readonly fua?: boolean }): Promise<void> {
    return this.submit(CMD.WRITE, flags?.fua ? CMD_FLAG.FUA : 0, offset, buf.length, undefined, buf);
  }

  flush(): Promise<void> {
    return this.submit(CMD.FLUSH, 0, 0, 0, undefined, undefined);
  }

  /** Waits for outstanding requests, sends NBD_CMD_DISC and closes the socket. */
  async close(): Promise<void> {
    if (this.closed) {
      this.sock.destroy();
      return;
    }
    await Promise.allSettled([...this.pending.values()].map((p) => new Promise<void>((res) => {
      const { resolve, reject } = p;
      p.resolve = () => { resolve(); res(); };
      p.reject = (e) => { reject(e); res(); };
    })));
    const h = Buffer.alloc(REQUEST_SIZE);
    h.writeUInt32BE(REQUEST_MAGIC, 0);
    h.writeUInt16BE(CMD.DISC, 6);
    this.closed = new NbdError(`${formatNbdUri(this.address)}: the connection is closed`, 108);
    await new Promise<void>((resolve) => {
      this.sock.end(h, () => resolve());
      setTimeout(resolve, 1000).unref();
    });
    this.sock.destroy();
  }
}

function errnoOfSystem(err: Error): number {
  const e = err as { errno?: unknown };
  return typeof e.errno === 'number' ? Math.abs(e.errno) : 5;
}
