// The NBD server (doc/proto.md, fixed newstyle only): every RAM disk (`ram0`...) and mapped
// device (`NAME`) is an export. One Connection per client socket:
//
//   handshake (async, option by option) ──GO/EXPORT_NAME──> transmission (event-driven parser)
//        │ STARTTLS: the raw socket is handed to a tls.Server and the session continues on the
//        │ TLSSocket; nothing negotiated before it is kept (proto.md "NBD_OPT_STARTTLS").
//
// Transmission:
//   socket reads (onread: a shared buffer, or    ──> parser (header 28 bytes, then payload for
//   straight into a WRITE's payload buffer;            WRITE) ──> serveSync(req): answered in
//   'data' chunks for TLS and other streams)           this tick when the device completes in
//      ^                                               the call, else run(req) (concurrent)
//      │ paused while in flight > MAX_INFLIGHT requests or MAX_INFLIGHT_BYTES bytes, or the
//      │ socket's unsent replies exceed MAX_INFLIGHT_BYTES ("backpressure")
//      └── replies made while one read is parsed leave together (one write/writev on the
//          descriptor when the stream is idle, else through the stream); async completions in
//          one tick are corked into one writev. A read reply is one buffer (header + data).
//
// Accepted connections beyond maxConnections (--max-connections) are closed on accept.
//
// NBD_FLAG_CAN_MULTI_CONN is set for every export: all connections to an export share the one
// BlockDevice object in this process (there is no per-connection cache), a write is acknowledged
// only once the device completed it, and a FLUSH goes to the device itself (RamDisk: nothing to
// wait for; MappedDevice: every target flushes its devices, files fsync), so a FLUSH on any
// connection covers every write completed on every connection, as the flag requires.
//
// A client that vanishes mid-request loses nothing it was told was done: requests already
// started run to completion (only the reply is dropped), and the export stays held open until
// the last one finishes.

import { channel } from 'node:diagnostics_channel';
import { readFileSync, writeSync, writevSync } from 'node:fs';
import { rm, chmod } from 'node:fs/promises';
import type { OnReadOpts, Server } from 'node:net';
import { Socket, createServer } from 'node:net';
import { join } from 'node:path';
import { constants } from 'node:os';
import type { Duplex } from 'node:stream';
import type { SecureContextOptions, TLSSocket, TlsOptions } from 'node:tls';
import { DEFAULT_CIPHERS, createServer as createTlsServer } from 'node:tls';
import type { BlockDevice } from '../block/device.js';
import { RamDisk, PAGE_SIZE } from '../backends/ram/ramdisk.js';
import type { Registry } from '../dm/registry.js';
import { UcryptError, errnoOf, errorMessage } from '../errors.js';
import { pool } from './pool.js';
import { copyInto } from '../backends/ram/copy.js';
import { nativeAddon } from '../crypto/native/index.js';
import type { RequestHeader } from './protocol.js';
import {
  BASE_ALLOCATION, CMD, CMD_FLAG, FLAG_C_FIXED_NEWSTYLE, FLAG_C_NO_ZEROES, FLAG_FIXED_NEWSTYLE, FLAG_NO_ZEROES, INFO,
  MAX_PAYLOAD, NBD_ERR, OPT, OPTION_HEADER_SIZE, REP, REPLY_FLAG_DONE, REPLY_TYPE, REQUEST_SIZE, SIMPLE_REPLY_SIZE,
  STATE_HOLE, STATE_ZERO, STRUCTURED_HEADER_SIZE, decodeInfoRequest, decodeMetaContextRequest, decodeOptionHeader,
  decodeRequest, encodeErrorChunk, encodeExportNameReply, encodeGreeting, encodeInfoBlockSize, encodeInfoExport,
  encodeInfoString, encodeMetaContext, encodeOptionReply, encodeServer, encodeSimpleReply, encodeStructuredHeader,
  nbdError, transmissionFlags,
} from './protocol.js';

export type TlsMode = 'off' | 'on' | 'require';

export interface NbdTlsOptions {
  readonly mode: TlsMode;
  /** Directory with ca-cert.pem, server-cert.pem, server-key.pem (nbdkit's layout). */
  readonly certificates?: string;
  /** Require and verify a client certificate signed by ca-cert.pem. */
  readonly verifyPeer?: boolean;
  /** psktool's key file: `username:hexkey` lines. */
  readonly psk?: string;
}

export type ListenSpec = { readonly kind: 'unix'; readonly path: string } | { readonly kind: 'tcp'; readonly host: string; readonly port: number };

export interface NbdServerOptions {
  readonly registry: Registry;
  readonly tls?: NbdTlsOptions;
  readonly log?: (line: string) => void;
  /** Connections served at once (all listeners); more are closed on accept. */
  readonly maxConnections?: number;
}

/** `--max-connections` default: far above any real use, low enough to bound memory. */
export const DEFAULT_MAX_CONNECTIONS = 1024;

/** Parses `--listen` values: `unix:PATH` or `tcp:HOST:PORT` (`tcp:[::1]:PORT` for IPv6). */
export function parseListen(spec: string): ListenSpec {
  if (spec.startsWith('unix:') && spec.length > 5) return { kind: 'unix', path: spec.slice(5) };
  const m = /^tcp:(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(spec);
  if (m) {
    const port = Number(m[3]);
    if (port <= 65535) return { kind: 'tcp', host: m[1] ?? (m[2] || '127.0.0.1'), port };
  }
  throw new UcryptError('ERR_BAD_ARGUMENT', 'EINVAL', `--listen ${spec}: expected unix:PATH or tcp:HOST:PORT`);
}

/**
 * Diagnostics channels (node:diagnostics_channel; a branch per request when nobody subscribes):
 *   ucrypt:nbd:request  { export, type, flags, offset, length }         a request is started
 *   ucrypt:nbd:reply    { export, type, offset, length, error }         ... and answered (error 0 = ok)
 */
export const nbdRequestChannel = channel('ucrypt:nbd:request');
export const nbdReplyChannel = channel('ucrypt:nbd:reply');

/** Bounds per connection ("backpressure"). */
export const MAX_INFLIGHT = 64;
export const MAX_INFLIGHT_BYTES = 64 << 20;
/** Options per handshake before the server gives up on a client (a denial-of-service bound). */
const MAX_OPTIONS = 256;
/** Option payloads beyond this end the session (no option we know needs more). */
const MAX_OPTION_LENGTH = 1 << 20;
/** Block status extents per reply (the spec suggests at most 2^20). */
const MAX_EXTENTS = 1 << 16;
const META_ID = 1;

interface Export {
  readonly name: string;
  readonly dev: BlockDevice;
  readonly description: string;
}

function describe(name: string, dev: BlockDevice): string {
  return dev instanceof RamDisk ? `RAM disk /dev/${name}` : `device-mapper device /dev/mapper/${name}`;
}

/** Block sizes advertised in NBD_INFO_BLOCK_SIZE ("Size constraints"). */
export function blockSizes(dev: BlockDevice): { minimum: number; preferred: number; maximum: number } {
  const l = dev.limits;
  const minimum = l.logicalBlockSize;
  const preferred = Math.max(l.physicalBlockSize, minimum, 512);
  const maximum = Math.max(preferred, Math.min(l.maxTransfer, MAX_PAYLOAD));
  return { minimum, preferred, maximum };
}

function loadPskKeys(file: string): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const i = t.lastIndexOf(':');
    const hex = t.slice(i + 1);
    if (i <= 0 || !/^([0-9a-fA-F]{2})+$/.test(hex)) throw new UcryptError('ERR_BAD_ARGUMENT', 'EINVAL', `${file}: expected username:hexkey lines (psktool's format)`);
    keys.set(t.slice(0, i), Buffer.from(hex, 'hex'));
  }
  if (keys.size === 0) throw new UcryptError('ERR_BAD_ARGUMENT', 'EINVAL', `${file}: no keys`);
  return keys;
}

/** tls.Server options built once from the NBD TLS settings. */
function tlsServerOptions(opts: NbdTlsOptions): TlsOptions {
  const o: TlsOptions & SecureContextOptions = { minVersion: 'TLSv1.2' };
  if (opts.certificates) {
    const dir = opts.certificates;
    o.cert = readFileSync(join(dir, 'server-cert.pem'));
    o.key = readFileSync(join(dir, 'server-key.pem'));
    if (opts.verifyPeer) {
      o.ca = readFileSync(join(dir, 'ca-cert.pem'));
      o.requestCert = true;
      o.rejectUnauthorized = true;
    }
  }
  if (opts.psk) {
    const keys = loadPskKeys(opts.psk);
    o.pskCallback = (_sock: TLSSocket, identity: string) => keys.get(identity) ?? null;
    // pskCallback serves both TLS 1.3 (OpenSSL's compatibility path for external PSKs, what
    // GnuTLS clients such as libnbd negotiate) and TLS 1.2, where PSK cipher suites must be
    // enabled explicitly.
    o.ciphers = `${DEFAULT_CIPHERS}:ECDHE-PSK-AES256-CBC-SHA384:ECDHE-PSK-AES128-CBC-SHA256:DHE-PSK-AES256-GCM-SHA384:DHE-PSK-AES128-GCM-SHA256:PSK-AES256-GCM-SHA384:PSK-AES128-GCM-SHA256`;
  }
  if (!opts.certificates && !opts.psk) throw new UcryptError('ERR_BAD_ARGUMENT', 'EINVAL', '--tls needs --tls-certificates=DIR or --tls-psk=FILE');
  return o;
}

export class NbdServer {
  readonly registry: Registry;
  readonly tlsMode: TlsMode;
  private readonly tlsOptions: TlsOptions | undefined;
  private readonly servers: { spec: ListenSpec; server: Server }[] = [];
  private readonly conns = new Set<Connection>();
  private closing: Promise<void> | undefined;
  readonly log: (line: string) => void;
  readonly maxConnections: number;
  /** Connections refused at the cap since the last log line (one line a second at most). */
  private refused = 0;
  private refusedLogged = 0;
  private refusedTimer: NodeJS.Timeout | undefined;
  private readonly logRefused = (): void => {
    this.refusedTimer = undefined;
    const n = this.refused;
    this.log(`nbd: refused ${n} connection${n === 1 ? '' : 's'}: ${this.maxConnections} already open (--max-connections)`);
    this.refused = 0;
    this.refusedLogged = Date.now();
  };

  constructor(opts: NbdServerOptions) {
    this.registry = opts.registry;
    const max = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    if (!Number.isSafeInteger(max) || max < 1) throw new UcryptError('ERR_BAD_ARGUMENT', 'EINVAL', `--max-connections ${max}: expected a positive integer`);
    this.maxConnections = max;
    this.tlsMode = opts.tls?.mode ?? 'off';
    this.tlsOptions = opts.tls && opts.tls.mode !== 'off' ? tlsServerOptions(opts.tls) : undefined;
    this.log = opts.log ?? (() => undefined);
  }

  /** Where the server listens (TCP ports as bound, so port 0 works). */
  get listening(): ListenSpec[] {
    return this.servers.map(({ spec, server }) => {
      if (spec.kind === 'unix') return spec;
      const a = server.address();
      return { kind: 'tcp', host: spec.host, port: a && typeof a === 'object' ? a.port : spec.port };
    });
  }

  async listen(spec: ListenSpec): Promise<void> {
    // pauseOnConnect: nothing is read before the Connection takes the socket over (onread).
    const server = createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (sock) => this.accept(sock));
    if (spec.kind === 'unix') {
      await rm(spec.path, { force: true });
      const oldMask = process.umask(0o177);
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(spec.path, () => resolve());
        });
      } finally {
        process.umask(oldMask);
      }
      await chmod(spec.path, 0o600);
    } else {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(spec.port, spec.host, () => resolve());
      });
    }
    server.on('error', (err) => this.log(`nbd: ${errorMessage(err)}`));
    this.servers.push({ spec, server });
  }

  /** The URIs of an export, one per listener (nbds when TLS is on). */
  uris(name: string): string[] {
    const s = this.tlsMode === 'off' ? '' : 's';
    const enc = encodeURIComponent(name);
    return this.listening.map((l) => {
      if (l.kind === 'unix') return `nbd${s}+unix:///${enc}?socket=${l.path}`;
      const host = l.host.includes(':') ? `[${l.host}]` : l.host;
      return `nbd${s}://${host}:${l.port}/${enc}`;
    });
  }

  /** Busy polls at iodepth 1 (Connection.busyPoll): requests found by polling, and polls that timed out. */
  readonly busyPoll = { hits: 0, misses: 0 };
  /** The same for the rest of WRITE payloads (Connection.pollPayload): payloads completed by polling, polls that timed out. */
  readonly payloadPoll = { hits: 0, misses: 0 };
  /**
   * SO_SNDBUF of the last accepted socket (bytes, as the kernel reports it), after the server
   * asked for UCRYPT_NBD_SNDBUF (default 4 MiB; capped at net.core.wmem_max, then doubled by
   * the kernel); 0 when it was not set (no native addon, UCRYPT_NBD_SNDBUF=0, TLS).
   */
  sendBuffer = 0;
  /** How accepted connections read: onread into our buffers, or as streams ('data' events). */
  readonly inputModes = { onread: 0, stream: 0 };

  /** Connections open now (handshake or transmission). */
  get connections(): number {
    return this.conns.size;
  }

  private accept(sock: Socket): void {
    if (this.closing) {
      sock.destroy();
      return;
    }
    if (this.conns.size >= this.maxConnections) {
      // Refused before anything is read or allocated for it; existing connections go on.
      sock.destroy();
      this.refused++;
      if (!this.refusedTimer) {
        const wait = this.refusedLogged + 1000 - Date.now();
        if (wait <= 0) this.logRefused();
        else this.refusedTimer = setTimeout(this.logRefused, wait).unref();
      }
      return;
    }
    sock.setNoDelay(true);
    const c = new Connection(this, sock);
    this.conns.add(c);
    c.closed.then(() => this.conns.delete(c), () => this.conns.delete(c));
    c.start();
  }

  /** A tls.Server used only to wrap sockets after STARTTLS ('connection' is emitted by hand). */
  tlsServer(): Server | undefined {
    if (!this.tlsOptions) return undefined;
    return createTlsServer(this.tlsOptions);
  }

  /** Stops listening; connections finish their in-flight requests and are closed. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const closed = this.servers.map(({ server }) => new Promise<void>((r) => server.close(() => r())));
      for (const c of this.conns) c.shutdown();
      await Promise.all([...closed, ...[...this.conns].map((c) => c.closed)]);
      for (const { spec } of this.servers) if (spec.kind === 'unix') await rm(spec.path, { force: true });
    })();
    return this.closing;
  }

  resolve(name: string): Export | undefined {
    const names = this.registry.exportNames();
    // The default export ("") is the only export, when there is exactly one.
    const canonical = name === '' && names.length === 1 ? names[0]! : name;
    if (!names.includes(canonical)) return undefined;
    return this.exportOf(canonical);
  }

  private exportOf(name: string): Export | undefined {
    const held = this.registry.hold(name);
    if (!held) return undefined;
    held.release();
    return { name, dev: held.dev, description: describe(name, held.dev) };
  }

  exports(): Export[] {
    const out: Export[] = [];
    for (const n of this.registry.exportNames()) {
      const e = this.exportOf(n);
      if (e) out.push(e);
    }
    return out;
  }

  get tlsEnabled(): boolean {
    return this.tlsOptions !== undefined;
  }
}

class HangUp extends Error {}

interface Req {
  type: number;
  flags: number;
  hi: number;
  lo: number;
  offset: number;
  length: number;
  data: Buffer | undefined;
  /** The pooled buffer behind `data`, when the payload was assembled from several chunks. */
  pooled: Buffer | undefined;
}

const S_HEADER = 0;
const S_PAYLOAD = 1;
const S_SKIP = 2;
const S_DONE = 3;

/**
 * What socket reads land in (Node's `onread`, see Connection): one buffer for the process. A
 * read callback consumes or copies everything before it returns and callbacks never nest, so
 * every connection can share it.
 */
const READ_BUFFER = Buffer.allocUnsafeSlow(128 << 10);
/** Replies gathered while one read is parsed are written (one writev) when this much is queued. */
const BATCH_BYTES = 1 << 20;

/**
 * Takes over an accepted socket's handle with a new net.Socket that has Node's `onread` option
 * (reads go into buffers we choose, no Readable stream in between). Node 20 offers `onread`
 * only to sockets it creates for connect(), so the accepted socket (paused on connect: nothing
 * has been read) gives up its handle and its place in the server's connection count. Returns
 * undefined when the socket is not one we can take over (in-process tests pass other Duplexes).
 */
function adoptWithOnread(sock: Duplex, onread: OnReadOpts): Socket | undefined {
  if (!(sock instanceof Socket) || sock.readableFlowing !== false || sock.readableLength > 0 || sock.destroyed) return undefined;
  const old = sock as unknown as { _handle: unknown; _server: unknown; server: unknown };
  const handle = old._handle;
  if (handle === null || typeof handle !== 'object') return undefined;
  old._handle = null;
  const fresh = new Socket({ handle, allowHalfOpen: true, readable: true, writable: true, onread } as ConstructorParameters<typeof Socket>[0]);
  const f = fresh as unknown as { _server: unknown; server: unknown };
  f._server = old._server;
  f.server = old.server;
  old._server = null;
  return fresh;
}

class Connection {
  private sock: Socket;
  /** The stream NBD bytes flow through: the socket, or the TLSSocket after STARTTLS. */
  private io: Duplex;
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private dead = false;

  // Handshake reader.
  private chunks: Buffer[] = [];
  private buffered = 0;
  private waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: unknown) => void } | undefined;
  private inputEnded = false;

  // Negotiated state.
  private tls = false;
  private structured = false;
  private metaExport: string | undefined;
  private noZeroes = false;

  // Transmission.
  private transmitting = false;
  private exp: Export | undefined;
  /** The export's RamDisk, served synchronously (see serveSync). */
  private ram: RamDisk | undefined;
  private release: (() => void) | undefined;
  private size = 0;
  private minBlock = 1;
  private maxPayload = MAX_PAYLOAD;
  private blockStatus = false;
  private state = S_HEADER;
  private readonly hdr = Buffer.allocUnsafe(REQUEST_SIZE);
  private hdrFill = 0;
  private readonly h: RequestHeader = { flags: 0, type: 0, cookieHi: 0, cookieLo: 0, offset: 0, length: 0 };
  private cur: Req | undefined;
  private payFill = 0;
  private skip = 0;
  private inflight = 0;
  private inflightBytes = 0;
  private blocked = false;
  private stash: Buffer[] = [];
  private corked = false;
  private disc = false;
  private shuttingDown = false;
  /** The socket was handed to TLS: reads on the raw socket are no longer ours. */
  private handedOff = false;
  /** The socket's descriptor, for replies written without the stream (flushBatch). */
  private fd: number | undefined;
  /** The view of a WRITE payload the next socket read goes into (onread), if any. */
  private direct: Buffer | undefined;
  // Replies made while parsing one read, written together (one writev) when it is parsed.
  private batching = false;
  private readonly batch: Buffer[] = [];
  private readonly batchPooled: (Buffer | undefined)[] = [];
  private batchBytes = 0;
  // Back-offs of the busy poll for requests (busyPoll) and for payloads (pollPayload).
  private readonly requestPoll = new PollBackoff();
  private readonly payloadPollBackoff = new PollBackoff();

  /** onread: n bytes arrived in buf (READ_BUFFER, or the payload view `direct`). */
  private readonly onRead = (n: number, buf: Uint8Array): boolean => {
    if (this.dead || this.handedOff) return false;
    if (!this.transmitting) {
      // Handshake: kept (copied, the read buffer is reused) for the option reader.
      this.chunks.push(Buffer.from(buf.subarray(0, n)));
      this.buffered += n;
      this.wake();
      return true;
    }
    this.batching = true;
    if (buf === this.direct) {
      this.direct = undefined;
      this.payFill += n;
      if (this.payFill === this.cur?.length) this.payloadDone();
    } else this.feed(buf as Buffer, n, true);
    this.endBatch();
    if (POLL_US > 0 && this.fd !== undefined) {
      if (this.state === S_PAYLOAD) this.pollPayload();
      this.busyPoll();
    }
    return !this.blocked;
  };
  /** onread: where the next read goes; straight into the WRITE payload being received, if any. */
  private readonly nextBuffer = (): Uint8Array => {
    const req = this.cur;
    if (this.state === S_PAYLOAD && req?.data && !this.blocked && this.stash.length === 0 && this.payFill < req.length) {
      this.direct = req.data.subarray(this.payFill);
      return this.direct;
    }
    this.direct = undefined;
    return READ_BUFFER;
  };
  private readonly onData = (chunk: Buffer): void => {
    if (this.transmitting) {
      this.batching = true;
      this.feed(chunk, chunk.length, false);
      this.endBatch();
    } else {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      this.wake();
    }
  };
  private readonly onEnd = (): void => {
    this.inputEnded = true;
    if (this.transmitting) {
      this.dropPartial();
      this.maybeFinish();
    } else this.wake();
  };
  private readonly uncork = (): void => {
    this.corked = false;
    this.io.uncork();
  };
  private readonly onDrain = (): void => this.checkUnblock();
  /** Pooled reply buffers in write order; stream callbacks run in the same order. */
  private readonly sent: Buffer[] = [];
  private readonly onWritten = (err?: Error | null): void => {
    const b = this.sent.shift();
    if (b && !err) pool.put(b);
  };

  constructor(
    private readonly server: NbdServer,
    accepted: Socket,
  ) {
    const adopted = adoptWithOnread(accepted, { buffer: this.nextBuffer, callback: this.onRead });
    const sock = adopted ?? accepted;
    this.sock = sock;
    this.io = sock;
    this.closed = new Promise((r) => (this.resolveClosed = r));
    if (adopted) {
      server.inputModes.onread++;
      const fd = (adopted as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
      if (typeof fd === 'number' && fd >= 0) {
        if (DIRECT_WRITES) this.fd = fd;
        // A 1 MiB READ reply then leaves in one write instead of five rounds of the default
        // ~208 KiB unix socket buffer, each an epoll wait for writability.
        if (SNDBUF > 0 && SET_SEND_BUFFER !== undefined) server.sendBuffer = Math.max(0, SET_SEND_BUFFER(fd, SNDBUF));
      }
    }
    else {
      server.inputModes.stream++;
      sock.on('data', this.onData);
      sock.resume(); // paused on connect
    }
    sock.on('end', this.onEnd);
    sock.on('error', () => this.destroy());
    sock.on('close', () => this.destroy());
  }

  start(): void {
    this.handshake().catch((err: unknown) => {
      if (!(err instanceof HangUp)) this.server.log(`nbd: handshake: ${errorMessage(err)}`);
      this.destroy();
    });
  }

  /** Server shutdown: no new requests (ESHUTDOWN), close once in-flight ones are done. */
  shutdown(): void {
    this.shuttingDown = true;
    if (!this.transmitting) {
      this.destroy();
      return;
    }
    this.maybeFinish();
    setTimeout(() => this.destroy(), 5000).unref();
  }

  private destroy(): void {
    if (this.dead) return;
    this.dead = true;
    this.stash = [];
    this.dropPartial();
    this.io.destroy();
    this.sock.destroy();
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(new HangUp());
    if (this.inflight === 0) this.finalize();
  }

  /** A WRITE whose payload never fully arrived is not a request: it is dropped, never started. */
  private dropPartial(): void {
    const req = this.cur;
    if (!req || this.state !== S_PAYLOAD || this.stash.length > 0) return;
    this.cur = undefined;
    this.state = S_DONE;
    this.payFill = 0;
    // A buffer the socket may still read into (direct) is left to the garbage collector.
    if (req.pooled && !this.direct) pool.put(req.pooled);
    this.inflight--;
    this.inflightBytes -= req.length;
  }

  /** Releases the export once nothing is in flight (a vanished client's writes still complete). */
  private finalize(): void {
    this.release?.();
    this.release = undefined;
    this.resolveClosed();
  }

  // ---- handshake ------------------------------------------------------------------------------

  private wake(): void {
    const w = this.waiter;
    if (!w) return;
    if (this.buffered >= w.n) {
      this.waiter = undefined;
      w.resolve(this.take(w.n));
    } else if (this.inputEnded) {
      this.waiter = undefined;
      w.reject(new HangUp());
    }
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    let out: Buffer;
    if (first && first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let fill = 0;
      while (fill < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - fill);
        c.copy(out, fill, 0, k);
        fill += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    return out;
  }

  private read(n: number): Promise<Buffer> {
    if (this.dead) return Promise.reject(new HangUp());
    if (this.buffered >= n) return Promise.resolve(this.take(n));
    if (this.inputEnded) return Promise.reject(new HangUp());
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject };
    });
  }

  private write(b: Buffer): void {
    if (!this.dead) this.io.write(b);
  }

  private reply(option: number, type: number, payload?: Uint8Array): void {
    this.write(encodeOptionReply(option, type, payload));
  }

  private replyError(option: number, type: number, message: string): void {
    this.reply(option, type, Buffer.from(message, 'utf8'));
  }

  private async handshake(): Promise<void> {
    this.write(encodeGreeting(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES));
    const cflags = (await this.read(4)).readUInt32BE(0);
    // "the server MUST drop the TCP connection if the client sets an unknown flag".
    if ((cflags & ~(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES)) !== 0) throw new HangUp();
    const fixed = (cflags & FLAG_C_FIXED_NEWSTYLE) !== 0;
    this.noZeroes = (cflags & FLAG_C_NO_ZEROES) !== 0;
    for (let n = 0; n < MAX_OPTIONS; n++) {
      const oh = decodeOptionHeader(await this.read(OPTION_HEADER_SIZE));
      if (!oh) throw new HangUp(); // bad IHAVEOPT magic
      if (oh.length > MAX_OPTION_LENGTH) throw new HangUp();
      const data = oh.length === 0 ? Buffer.alloc(0) : await this.read(oh.length);
      const { option } = oh;
      // Non-fixed newstyle knows only EXPORT_NAME, and has no way to report errors.
      if (!fixed && option !== OPT.EXPORT_NAME) throw new HangUp();
      if (this.shuttingDown && option !== OPT.ABORT) {
        this.reply(option, REP.ERR_SHUTDOWN);
        continue;
      }
      // FORCEDTLS: only STARTTLS and ABORT before TLS; EXPORT_NAME cannot be refused, so hang up.
      if (this.server.tlsMode === 'require' && !this.tls && option !== OPT.STARTTLS && option !== OPT.ABORT) {
        if (option === OPT.EXPORT_NAME) throw new HangUp();
        this.replyError(option, REP.ERR_TLS_REQD, 'TLS is required: send NBD_OPT_STARTTLS first');
        continue;
      }
      if (await this.option(option, data)) return;
    }
    throw new HangUp();
  }

  /** Handles one option; true when the handshake is over (transmission or abort). */
  private async option(option: number, data: Buffer): Promise<boolean> {
    switch (option) {
      case OPT.EXPORT_NAME: {
        const e = this.server.resolve(data.toString('utf8'));
        if (!e) throw new HangUp();
        const flags = transmissionFlags(e.dev.limits, this.structured);
        if (!this.enter(e)) throw new HangUp();
        this.write(encodeExportNameReply(this.size, flags, this.noZeroes));
        this.startTransmission();
        return true;
      }
      case OPT.ABORT:
        this.reply(option, REP.ACK);
        this.io.end();
        throw new HangUp();
      case OPT.LIST: {
        if (data.length !== 0) {
          this.replyError(option, REP.ERR_INVALID, 'NBD_OPT_LIST takes no data');
          return false;
        }
        for (const e of this.server.exports()) this.reply(option, REP.SERVER, encodeServer(e.name, e.description));
        this.reply(option, REP.ACK);
        return false;
      }
      case OPT.STARTTLS:
        return this.startTls(data);
      case OPT.INFO:
      case OPT.GO: {
        const req = decodeInfoRequest(data);
        if (!req) {
          this.replyError(option, REP.ERR_INVALID, 'malformed NBD_OPT_INFO/GO request');
          return false;
        }
        const e = this.server.resolve(req.name);
        if (!e) {
          this.replyError(option, REP.ERR_UNKNOWN, `no export named '${req.name}' (try NBD_OPT_LIST)`);
          return false;
        }
        const flags = transmissionFlags(e.dev.limits, this.structured);
        const bs = blockSizes(e.dev);
        this.reply(option, REP.INFO, encodeInfoExport(e.dev.size, flags));
        if (req.requests.includes(INFO.NAME) || req.name !== e.name) this.reply(option, REP.INFO, encodeInfoString(INFO.NAME, e.name));
        if (req.requests.includes(INFO.DESCRIPTION)) this.reply(option, REP.INFO, encodeInfoString(INFO.DESCRIPTION, e.description));
        this.reply(option, REP.INFO, encodeInfoBlockSize(bs.minimum, bs.preferred, bs.maximum));
        if (option === OPT.INFO) {
          this.reply(option, REP.ACK);
          return false;
        }
        if (!this.enter(e)) {
          this.replyError(option, REP.ERR_UNKNOWN, `export '${e.name}' went away`);
          return false;
        }
        this.reply(option, REP.ACK);
        this.startTransmission();
        return true;
      }
      case OPT.STRUCTURED_REPLY:
        if (data.length !== 0) this.replyError(option, REP.ERR_INVALID, 'NBD_OPT_STRUCTURED_REPLY takes no data');
        else if (this.structured) this.replyError(option, REP.ERR_INVALID, 'structured replies are already negotiated');
        else {
          this.structured = true;
          this.reply(option, REP.ACK);
        }
        return false;
      case OPT.LIST_META_CONTEXT:
      case OPT.SET_META_CONTEXT: {
        const set = option === OPT.SET_META_CONTEXT;
        // "Issuing this command replaces all previously-set metadata contexts (including when
        // this command fails)".
        if (set) this.metaExport = undefined;
        if (!this.structured) {
          this.replyError(option, REP.ERR_INVALID, 'negotiate NBD_OPT_STRUCTURED_REPLY first');
          return false;
        }
        const req = decodeMetaContextRequest(data);
        if (!req) {
          this.replyError(option, REP.ERR_INVALID, 'malformed meta context request');
          return false;
        }
        const e = this.server.resolve(req.name);
        if (!e) {
          this.replyError(option, REP.ERR_UNKNOWN, `no export named '${req.name}'`);
          return false;
        }
        let match: boolean;
        if (set) match = req.queries.includes(BASE_ALLOCATION);
        else match = req.queries.length === 0 || req.queries.some((q) => q === BASE_ALLOCATION || q === 'base:');
        if (match) this.reply(option, REP.META_CONTEXT, encodeMetaContext(set ? META_ID : 0, BASE_ALLOCATION));
        if (set && match) this.metaExport = e.name;
        this.reply(option, REP.ACK);
        return false;
      }
      default:
        this.replyError(option, REP.ERR_UNSUP, `option ${option} is not supported`);
        return false;
    }
  }

  private async startTls(data: Buffer): Promise<boolean> {
    const option = OPT.STARTTLS;
    const tlsServer = this.server.tlsServer();
    if (!tlsServer) {
      this.replyError(option, REP.ERR_UNSUP, 'TLS is not enabled on this server (ucrypt daemon --tls=on)');
      return false;
    }
    if (this.tls) {
      this.replyError(option, REP.ERR_INVALID, 'TLS is already negotiated');
      return false;
    }
    if (data.length !== 0) {
      this.replyError(option, REP.ERR_INVALID, 'NBD_OPT_STARTTLS takes no data');
      return false;
    }
    this.reply(option, REP.ACK);
    // Hand the socket to a tls.Server; from now on every byte goes through the TLSSocket.
    const raw = this.sock;
    raw.removeListener('data', this.onData);
    raw.removeListener('end', this.onEnd);
    this.handedOff = true;
    this.fd = undefined; // from now on every byte goes through TLS
    const tlsSock = await new Promise<TLSSocket>((resolve, reject) => {
      tlsServer.once('secureConnection', (t: TLSSocket) => resolve(t));
      tlsServer.once('tlsClientError', (err: Error) => reject(err));
      raw.once('close', () => reject(new HangUp()));
      tlsServer.emit('connection', raw);
    }).catch((err: unknown) => {
      if (!(err instanceof HangUp)) this.server.log(`nbd: TLS handshake failed: ${errorMessage(err)}`);
      throw new HangUp();
    });
    this.io = tlsSock;
    this.tls = true;
    const psk = (tlsSock as TLSSocket & { pskIdentity?: string }).pskIdentity;
    this.server.log(`nbd: TLS established (${tlsSock.getProtocol() ?? '?'}, ${tlsSock.getCipher().name}${psk === undefined ? '' : `, PSK identity ${psk}`})`);
    // Nothing negotiated before STARTTLS survives it.
    this.structured = false;
    this.metaExport = undefined;
    this.chunks = [];
    this.buffered = 0;
    tlsSock.on('data', this.onData);
    tlsSock.on('end', this.onEnd);
    tlsSock.on('error', () => this.destroy());
    tlsSock.on('close', () => this.destroy());
    return false;
  }

  /** Holds the export open for the connection's lifetime. */
  private enter(e: Export): boolean {
    const held = this.server.registry.hold(e.name);
    if (!held) return false;
    this.exp = { ...e, dev: held.dev };
    this.ram = held.dev instanceof RamDisk ? held.dev : undefined;
    this.release = held.release;
    this.size = held.dev.size;
    const bs = blockSizes(held.dev);
    this.minBlock = bs.minimum;
    this.maxPayload = bs.maximum;
    this.blockStatus = this.metaExport === e.name;
    return true;
  }

  private startTransmission(): void {
    this.transmitting = true;
    this.io.on('drain', this.onDrain);
    const rest = this.chunks;
    this.chunks = [];
    this.buffered = 0;
    this.batching = true;
    for (const c of rest) this.feed(c, c.length, false);
    this.endBatch();
    if (this.inputEnded) {
      // The client half-closed during the handshake: as onEnd, a WRITE cut short is dropped.
      this.dropPartial();
      this.maybeFinish();
    }
  }

  // ---- transmission: parser -------------------------------------------------------------------

  /**
   * Parses len bytes of chunk. A transient chunk (the shared read buffer) is reused after this
   * returns: nothing in it may be kept, so payloads are served from it at once or copied.
   */
  private feed(chunk: Buffer, len: number, transient: boolean): void {
    let pos = 0;
    while (pos < len && !this.dead) {
      if (this.blocked) {
        const rest = pos === 0 && len === chunk.length ? chunk : chunk.subarray(pos, len);
        this.stash.push(transient ? Buffer.from(rest) : rest);
        return;
      }
      switch (this.state) {
        case S_HEADER: {
          if (this.hdrFill === 0 && len - pos >= REQUEST_SIZE) {
            this.header(chunk, pos);
            pos += REQUEST_SIZE;
          } else {
            const n = Math.min(REQUEST_SIZE - this.hdrFill, len - pos);
            chunk.copy(this.hdr, this.hdrFill, pos, pos + n);
            this.hdrFill += n;
            pos += n;
            if (this.hdrFill === REQUEST_SIZE) {
              this.hdrFill = 0;
              this.header(this.hdr, 0);
            }
          }
          break;
        }
        case S_PAYLOAD: {
          const req = this.cur!;
          const need = req.length - this.payFill;
          if (this.payFill === 0 && len - pos >= need) {
            // The whole payload is in this chunk: served from it, or kept as a view of it
            // (stream chunks are never reused), or copied (the shared read buffer is).
            const view = chunk.subarray(pos, pos + need);
            pos += need;
            this.cur = undefined;
            this.state = S_HEADER;
            this.dispatch(req, view, transient);
            break;
          }
          const data = req.data ?? payloadBuffer(req);
          const n = Math.min(need, len - pos);
          // Pooled buffers are SharedArrayBuffers (pool.ts): copyInto is a memcpy where
          // Buffer.copy would be V8's relaxed memmove.
          copyInto(data, chunk.subarray(pos, pos + n), this.payFill);
          this.payFill += n;
          pos += n;
          if (this.payFill === req.length) this.payloadDone();
          break;
        }
        case S_SKIP: {
          const n = Math.min(this.skip, len - pos);
          this.skip -= n;
          pos += n;
          if (this.skip === 0) this.state = S_HEADER;
          break;
        }
        default:
          return; // S_DONE: after NBD_CMD_DISC or a protocol violation nothing more is read
      }
    }
  }

  /** The current WRITE's payload is complete in req.data. */
  private payloadDone(): void {
    const req = this.cur!;
    this.payFill = 0;
    this.cur = undefined;
    this.state = S_HEADER;
    this.dispatch(req);
  }

  private header(b: Buffer, pos: number): void {
    const h = this.h;
    if (!decodeRequest(b, pos, h)) {
      // Bad request magic: a violation we cannot recover from (no cookie to answer).
      this.state = S_DONE;
      this.server.log('nbd: bad request magic; closing the connection');
      this.destroy();
      return;
    }
    const req: Req = { type: h.type, flags: h.flags, hi: h.cookieHi, lo: h.cookieLo, offset: h.offset, length: h.length, data: undefined, pooled: undefined };
    if (h.type === CMD.DISC) {
      this.state = S_DONE;
      this.disc = true;
      this.maybeFinish();
      return;
    }
    this.inflight++;
    const err = this.validate(req);
    if (req.type === CMD.WRITE) {
      if (err) {
        // Refused writes still carry their payload: read past it without keeping it.
        this.skip = req.length;
        if (this.skip > 0) this.state = S_SKIP;
      } else if (req.length > 0) {
        this.inflightBytes += req.length;
        this.cur = req;
        this.state = S_PAYLOAD;
        if (this.inflightBytes >= MAX_INFLIGHT_BYTES) this.block();
      }
    } else if (req.type === CMD.READ && !err) {
      this.inflightBytes += req.length;
    }
    if (this.inflight >= MAX_INFLIGHT || this.inflightBytes >= MAX_INFLIGHT_BYTES) this.block();
    if (err) {
      this.fail(req, err[0], err[1]);
      this.done(req, 0);
    } else if (this.state !== S_PAYLOAD) this.dispatch(req);
  }

  /** The checks of nbdkit's validate_request: [NBD error, message] or undefined. */
  private validate(req: Req): [number, string] | undefined {
    if (this.shuttingDown) return [NBD_ERR.ESHUTDOWN, 'the server is shutting down'];
    const { type, flags, offset, length } = req;
    let allowed = CMD_FLAG.FUA;
    if (type === CMD.READ && this.structured) allowed |= CMD_FLAG.DF;
    if (type === CMD.WRITE_ZEROES) allowed |= CMD_FLAG.NO_HOLE | CMD_FLAG.FAST_ZERO;
    if (type === CMD.BLOCK_STATUS) allowed |= CMD_FLAG.REQ_ONE;
    if (type > CMD.BLOCK_STATUS) return [NBD_ERR.EINVAL, `unknown command ${type}`];
    if ((flags & ~allowed) !== 0) return [NBD_ERR.EINVAL, `command flags 0x${flags.toString(16)} are not valid for command ${type}`];
    const l = this.exp!.dev.limits;
    const writes = type === CMD.WRITE || type === CMD.TRIM || type === CMD.WRITE_ZEROES;
    if (writes && l.readOnly) return [NBD_ERR.EPERM, 'the export is read-only'];
    if (type === CMD.FLUSH) return offset !== 0 || length !== 0 ? [NBD_ERR.EINVAL, 'NBD_CMD_FLUSH must have zero offset and length'] : undefined;
    if (type === CMD.TRIM && !l.discard) return [NBD_ERR.EINVAL, 'the export does not support trim'];
    if (type === CMD.BLOCK_STATUS && !this.blockStatus) return [NBD_ERR.EINVAL, 'no metadata context was negotiated for this export'];
    if ((type === CMD.READ || type === CMD.WRITE) && length > this.maxPayload) return [NBD_ERR.EINVAL, `length ${length} is over the maximum payload ${this.maxPayload}`];
    if (length === 0) return [NBD_ERR.EINVAL, 'zero-length request'];
    if (offset + length > this.size) {
      const e = type === CMD.WRITE || type === CMD.WRITE_ZEROES ? NBD_ERR.ENOSPC : NBD_ERR.EINVAL;
      return [e, `range ${offset}+${length} is beyond the end of the export (${this.size} bytes)`];
    }
    if (offset % this.minBlock !== 0 || length % this.minBlock !== 0) return [NBD_ERR.EINVAL, `offset ${offset} and length ${length} must be multiples of the minimum block size ${this.minBlock}`];
    return undefined;
  }

  // ---- transmission: requests -----------------------------------------------------------------

  /** Starts a validated request; view is a WRITE payload lying whole in a received chunk. */
  private dispatch(req: Req, view?: Buffer, transient = false): void {
    if (view) req.data = view;
    if (nbdRequestChannel.hasSubscribers) nbdRequestChannel.publish({ export: this.exp!.name, type: req.type, flags: req.flags, offset: req.offset, length: req.length });
    if (this.serveSync(req)) return;
    if (transient && view) {
      req.pooled = pool.get(view.length);
      req.data = req.pooled.subarray(0, view.length);
      copyInto(req.data, view, 0);
    }
    void this.run(req);
  }

  /**
   * The fast path: a request the device completes in the call (a RAM disk always; devices with
   * BlockDevice.readNow/writeNow, e.g. inline crypt over a RAM disk, when they can) is served
   * and answered in the tick that parsed it: no promise, and a WRITE payload that arrived in one
   * socket read is never copied but into the device. False, having done nothing, when the
   * request must take the async path (then run() serves it). A RamDisk whose methods were
   * replaced (tests, instrumentation) goes through them on the async path.
   */
  private serveSync(req: Req): boolean {
    const type = req.type;
    const rd = this.ram;
    const dev = this.exp!.dev;
    if (rd !== undefined) {
      if (rd.read !== RAM_READ || rd.write !== RAM_WRITE || rd.flush !== RAM_FLUSH) return false;
      if (type !== CMD.READ && type !== CMD.WRITE && type !== CMD.FLUSH) return false;
    } else if (type === CMD.READ ? dev.readNow === undefined : type !== CMD.WRITE || dev.writeNow === undefined) return false;
    try {
      if (type === CMD.READ) {
        const hl = this.structured ? STRUCTURED_HEADER_SIZE + 8 : SIMPLE_REPLY_SIZE;
        const whole = pool.get(hl + req.length);
        const buf = whole.subarray(0, hl + req.length);
        if (rd !== undefined) rd.readSync(req.offset, buf.subarray(hl));
        else {
          let now: boolean;
          try {
            now = dev.readNow!(req.offset, buf.subarray(hl));
          } catch (err) {
            pool.put(whole);
            throw err;
          }
          if (!now) {
            pool.put(whole);
            return false;
          }
        }
        this.sendRead(req, buf, whole);
      } else {
        if (type === CMD.WRITE) {
          if (rd !== undefined) rd.writeSync(req.offset, req.data!);
          else if (!dev.writeNow!(req.offset, req.data!, (req.flags & CMD_FLAG.FUA) !== 0 ? FUA : undefined)) return false;
        }
        this.ok(req);
      }
    } catch (err) {
      this.fail(req, nbdError(errnoOf(err)), errorMessage(err));
    }
    if (req.pooled) pool.put(req.pooled);
    req.pooled = undefined;
    req.data = undefined;
    this.done(req, type === CMD.FLUSH ? 0 : req.length);
    return true;
  }

  /** A READ's reply: `buf` (from pooled `whole`) holds the data after room for the header. */
  private sendRead(req: Req, buf: Buffer, whole: Buffer): void {
    if (this.structured) {
      encodeStructuredHeader(buf, 0, REPLY_FLAG_DONE, REPLY_TYPE.OFFSET_DATA, req.hi, req.lo, 8 + req.length);
      buf.writeUInt32BE(Math.floor(req.offset / 0x100000000), 20);
      buf.writeUInt32BE(req.offset >>> 0, 24);
    } else encodeSimpleReply(buf, 0, 0, req.hi, req.lo);
    this.sendPooled(buf, whole);
    if (nbdReplyChannel.hasSubscribers) nbdReplyChannel.publish({ export: this.exp!.name, type: CMD.READ, offset: req.offset, length: req.length, error: 0 });
  }

  private async run(req: Req): Promise<void> {
    const dev = this.exp!.dev;
    const fua = (req.flags & CMD_FLAG.FUA) !== 0;
    try {
      switch (req.type) {
        case CMD.READ: {
          const hl = this.structured ? STRUCTURED_HEADER_SIZE + 8 : SIMPLE_REPLY_SIZE;
          const whole = pool.get(hl + req.length);
          const buf = whole.subarray(0, hl + req.length);
          try {
            await dev.read(req.offset, buf.subarray(hl));
          } catch (err) {
            pool.put(whole);
            throw err;
          }
          this.sendRead(req, buf, whole);
          return;
        }
        case CMD.WRITE:
          try {
            await dev.write(req.offset, req.data!, fua ? FUA : undefined);
          } finally {
            if (req.pooled) pool.put(req.pooled);
            req.pooled = undefined;
          }
          break;
        case CMD.FLUSH:
          await dev.flush();
          break;
        case CMD.TRIM:
          await dev.discard(req.offset, req.length);
          if (fua) await dev.flush();
          break;
        case CMD.WRITE_ZEROES: {
          const noUnmap = (req.flags & CMD_FLAG.NO_HOLE) !== 0;
          // FAST_ZERO: fail at once unless zeroing is cheaper than writing (RAM disks free or
          // clear pages; targets report writeZeroes when they do not write zero buffers).
          if ((req.flags & CMD_FLAG.FAST_ZERO) !== 0 && !dev.limits.writeZeroes) {
            this.fail(req, NBD_ERR.ENOTSUP, 'zeroing is not faster than writing on this export');
            return;
          }
          await dev.writeZeroes(req.offset, req.length, { noUnmap, fua });
          break;
        }
        case CMD.CACHE:
          // Everything is in memory or in the page cache already: nothing to prefetch.
          break;
        case CMD.BLOCK_STATUS:
          this.send(this.blockStatusReply(req));
          if (nbdReplyChannel.hasSubscribers) nbdReplyChannel.publish({ export: this.exp!.name, type: req.type, offset: req.offset, length: req.length, error: 0 });
          return;
      }
      this.ok(req);
    } catch (err) {
      this.fail(req, nbdError(errnoOf(err)), errorMessage(err));
    } finally {
      this.done(req, req.type === CMD.READ || req.type === CMD.WRITE ? req.length : 0);
    }
  }

  /** base:allocation extents: RAM disk pages never written (or discarded) are holes that read as zeros. */
  private blockStatusReply(req: Req): Buffer {
    const dev = this.exp!.dev;
    const reqOne = (req.flags & CMD_FLAG.REQ_ONE) !== 0;
    const end = req.offset + req.length;
    const ext: number[] = [];
    if (dev instanceof RamDisk) {
      const pt = dev.pageTable;
      let pos = req.offset;
      while (pos < end && ext.length < MAX_EXTENTS * 2) {
        const page = Math.floor(pos / PAGE_SIZE);
        const hole = pt[page] === 0;
        let p = page + 1;
        const lastPage = Math.ceil(end / PAGE_SIZE);
        while (p < lastPage && (pt[p] === 0) === hole) p++;
        const stop = Math.min(p * PAGE_SIZE, end);
        ext.push(stop - pos, hole ? STATE_HOLE | STATE_ZERO : 0);
        pos = stop;
        if (reqOne) break;
      }
    } else {
      ext.push(req.length, 0);
    }
    const n = ext.length / 2;
    const b = Buffer.allocUnsafe(STRUCTURED_HEADER_SIZE + 4 + 8 * n);
    encodeStructuredHeader(b, 0, REPLY_FLAG_DONE, REPLY_TYPE.BLOCK_STATUS, req.hi, req.lo, 4 + 8 * n);
    b.writeUInt32BE(META_ID, 20);
    for (let i = 0; i < ext.length; i++) b.writeUInt32BE(ext[i]!, 24 + 4 * i);
    return b;
  }

  private ok(req: Req): void {
    if (nbdReplyChannel.hasSubscribers) nbdReplyChannel.publish({ export: this.exp!.name, type: req.type, offset: req.offset, length: req.length, error: 0 });
    const b = Buffer.allocUnsafe(SIMPLE_REPLY_SIZE);
    encodeSimpleReply(b, 0, 0, req.hi, req.lo);
    this.send(b);
  }

  /** An error reply: a structured error chunk (with the message) when negotiated, else simple. */
  private fail(req: Req, error: number, message: string): void {
    if (nbdReplyChannel.hasSubscribers) nbdReplyChannel.publish({ export: this.exp?.name, type: req.type, offset: req.offset, length: req.length, error, message });
    if (this.structured) this.send(encodeErrorChunk(error, req.hi, req.lo, message));
    else {
      const b = Buffer.allocUnsafe(SIMPLE_REPLY_SIZE);
      encodeSimpleReply(b, 0, error, req.hi, req.lo);
      this.send(b);
    }
  }

  /**
   * Writes a reply. With other requests in flight, replies finishing in the same tick are
   * corked into one writev; a lone reply (iodepth 1) goes out at once.
   */
  private send(b: Buffer): void {
    if (this.dead) return;
    if (this.batching) {
      this.batch.push(b);
      this.batchPooled.push(undefined);
      if ((this.batchBytes += b.length) >= BATCH_BYTES) this.flushBatch();
      return;
    }
    this.cork();
    if (!this.io.write(b) && this.io.writableLength >= MAX_INFLIGHT_BYTES) this.block();
  }

  /** A reply in a pooled buffer: back to the pool once the socket has written it. */
  private sendPooled(b: Buffer, whole: Buffer): void {
    if (this.dead) {
      pool.put(whole);
      return;
    }
    if (this.batching) {
      this.batch.push(b);
      this.batchPooled.push(whole);
      if ((this.batchBytes += b.length) >= BATCH_BYTES) this.flushBatch();
      return;
    }
    this.cork();
    this.sent.push(whole);
    if (!this.io.write(b, this.onWritten) && this.io.writableLength >= MAX_INFLIGHT_BYTES) this.block();
  }

  /**
   * Busy poll at iodepth 1 (what `net.core.busy_poll` does in the kernel, and SPDK in userspace):
   * when every request so far has been answered in this tick, wait for the next one by polling
   * the socket with recv(MSG_DONTWAIT) for up to POLL_US instead of going back to epoll. On an
   * idle machine the epoll path lets the CPU halt between requests and pays a wake-up on each
   * (tens of microseconds on a VM). A poll that times out makes the next ones less likely (the
   * connection skips 1, 2, 4 ... up to 1024 chances), so a client that is not at iodepth 1, or a
   * loaded machine, does not pay for spinning; one call never holds the event loop for more than
   * POLL_BUDGET_US, so other connections and timers wait at most that long.
   */
  private busyPoll(): void {
    if (this.requestPoll.skipping()) return;
    const fd = this.fd!;
    const start = performance.now();
    let waitFrom = start;
    for (;;) {
      if (this.dead || this.blocked || this.inflight > 0 || this.state !== S_HEADER || this.hdrFill !== 0 || this.stash.length > 0 || this.fd === undefined) return;
      const now = performance.now();
      if ((now - start) * 1000 > POLL_BUDGET_US) return;
      if ((now - waitFrom) * 1000 > POLL_US) {
        this.requestPoll.miss();
        this.server.busyPoll.misses++;
        return;
      }
      const n = RECV_NOWAIT!(fd, READ_BUFFER, 0, READ_BUFFER.length);
      if (n === RECV_EAGAIN) continue;
      // 0 (the peer closed) and errors are left for libuv to see on its next read.
      if (n <= 0) return;
      this.server.busyPoll.hits++;
      this.requestPoll.backoff = 0;
      this.batching = true;
      this.feed(READ_BUFFER, n, true);
      this.endBatch();
      // A WRITE whose payload was not all there yet (clients often send the header first).
      if ((this.state as number) === S_PAYLOAD) this.pollPayload();
      waitFrom = performance.now();
    }
  }

  /**
   * Busy poll for the rest of a WRITE payload: a large payload arrives in rounds of the
   * client's socket send buffer (about 208 KiB on a unix socket); each round we drain wakes the
   * client, which refills it within tens of microseconds. Instead of going back to epoll for
   * every round (a sleep and a wake-up each), receive straight into the payload's buffer with
   * recv(MSG_DONTWAIT) for as long as data keeps coming (POLL_US without any ends it, and so
   * does POLL_BUDGET_US in all), then serve the write. Misses back off like busyPoll's.
   */
  private pollPayload(): void {
    if (this.payloadPollBackoff.skipping()) return;
    const fd = this.fd!;
    const start = performance.now();
    let waitFrom = start;
    for (;;) {
      const req = this.cur;
      if (this.dead || this.blocked || this.state !== S_PAYLOAD || req === undefined || this.stash.length > 0 || this.fd === undefined) return;
      // The header came alone: the payload gets its buffer now (as feed would).
      const data = req.data ?? payloadBuffer(req);
      const now = performance.now();
      if ((now - start) * 1000 > POLL_BUDGET_US) return;
      if ((now - waitFrom) * 1000 > POLL_US) {
        this.payloadPollBackoff.miss();
        this.server.payloadPoll.misses++;
        return;
      }
      const n = RECV_NOWAIT!(fd, data, this.payFill, req.length - this.payFill);
      if (n === RECV_EAGAIN) continue;
      if (n <= 0) return; // left for libuv to see on its next read
      this.payloadPollBackoff.backoff = 0;
      this.payFill += n;
      waitFrom = performance.now();
      if (this.payFill === req.length) {
        this.server.payloadPoll.hits++;
        this.batching = true;
        this.payloadDone();
        this.endBatch();
        return;
      }
    }
  }

  /** Ends a batch (see onRead): its replies leave now. */
  private endBatch(): void {
    this.batching = false;
    if (this.batch.length > 0) this.flushBatch();
  }

  /** Writes the batched replies, several in one writev; the bound on unsent replies applies. */
  private flushBatch(): void {
    const bufs = this.batch;
    const pooled = this.batchPooled;
    const n = bufs.length;
    if (this.dead) {
      for (const w of pooled) if (w) pool.put(w);
    } else {
      // Straight to the socket when nothing is queued in the stream (so order is kept): one
      // writev system call, no Writable bookkeeping or write callbacks; what the kernel does not
      // take goes through the stream below.
      let i = 0;
      let skip = 0;
      if (this.fd !== undefined && !this.corked && this.io.writableLength === 0) {
        let written = writeNow(this.fd, bufs);
        if (written < 0) {
          this.destroy();
          written = 0;
        }
        for (; i < n && written >= bufs[i]!.length; i++) {
          written -= bufs[i]!.length;
          const w = pooled[i];
          if (w) pool.put(w);
        }
        skip = written;
      }
      if (this.dead) {
        for (; i < n; i++) {
          const w = pooled[i];
          if (w) pool.put(w);
        }
      } else if (i < n) {
        const many = n - i > 1;
        if (many) this.io.cork();
        for (; i < n; i++) {
          const b = skip > 0 ? bufs[i]!.subarray(skip) : bufs[i]!;
          skip = 0;
          const w = pooled[i];
          if (w) {
            this.sent.push(w);
            this.io.write(b, this.onWritten);
          } else this.io.write(b);
        }
        if (many) this.io.uncork();
        if (this.io.writableLength >= MAX_INFLIGHT_BYTES) this.block();
      }
    }
    bufs.length = 0;
    pooled.length = 0;
    this.batchBytes = 0;
  }

  private cork(): void {
    if (!this.corked && CORK && this.inflight > 1) {
      this.corked = true;
      this.io.cork();
      process.nextTick(this.uncork);
    }
  }

  private done(_req: Req, bytes: number): void {
    this.inflight--;
    this.inflightBytes -= bytes;
    if (this.dead) {
      if (this.inflight === 0) this.finalize();
      return;
    }
    this.checkUnblock();
    this.maybeFinish();
    // A request that completed asynchronously (a workqueue crypt device, a file): its reply has
    // left; wait for the next request the same way as after the parsing tick (see onRead).
    if (!this.batching && this.inflight === 0 && POLL_US > 0 && this.fd !== undefined) this.busyPoll();
  }

  private block(): void {
    if (this.blocked) return;
    this.blocked = true;
    this.io.pause();
  }

  private checkUnblock(): void {
    if (!this.blocked || this.dead) return;
    if (this.inflight >= MAX_INFLIGHT || this.inflightBytes >= MAX_INFLIGHT_BYTES || this.io.writableLength >= MAX_INFLIGHT_BYTES) return;
    this.blocked = false;
    const pending = this.stash;
    this.stash = [];
    const outer = this.batching; // called from done() while a read is being parsed
    this.batching = true;
    for (let i = 0; i < pending.length; i++) {
      if (this.blocked) {
        for (let j = i; j < pending.length; j++) this.stash.push(pending[j]!);
        break;
      }
      this.feed(pending[i]!, pending[i]!.length, false);
    }
    if (!outer) this.endBatch();
    if (!this.blocked) this.io.resume();
  }

  /** After NBD_CMD_DISC, end of input or shutdown: close once every request is answered. */
  private maybeFinish(): void {
    if (this.dead || this.inflight > 0) return;
    if (!(this.disc || this.inputEnded || this.shuttingDown)) return;
    if (this.stash.length > 0) return;
    this.state = S_DONE;
    // Ends TLS with close_notify, then the socket.
    this.io.end(() => this.destroy());
    setTimeout(() => this.destroy(), 2000).unref();
  }
}

const FUA = { fua: true } as const;
const DIRECT_WRITES = process.env['UCRYPT_NBD_DIRECT_WRITES'] !== '0';
type RecvNowait = (fd: number, buf: Uint8Array, bufOffset: number, length: number) => number;
/** recv(MSG_DONTWAIT) from the native addon (native/ucrypt_io.c), if it is there. */
const RECV_NOWAIT = nativeAddon()?.['recvNowait'] as RecvNowait | undefined;
const RECV_EAGAIN = -(constants.errno.EAGAIN ?? 11);
const SET_SEND_BUFFER = nativeAddon()?.['setSendBuffer'] as ((fd: number, bytes: number) => number) | undefined;
/** SO_SNDBUF asked for on accepted sockets (bytes; 0: the system's default). */
const SNDBUF = Number(process.env['UCRYPT_NBD_SNDBUF'] ?? 4 << 20);
/** How long one busy poll waits for the next request (µs); 0 turns busy polling off. */
const POLL_US = RECV_NOWAIT === undefined ? 0 : Number(process.env['UCRYPT_NBD_POLL_US'] ?? 50);
/** A WRITE's payload buffer, from the pool, for a payload that does not arrive in one read. */
function payloadBuffer(req: Req): Buffer {
  req.pooled = pool.get(req.length);
  return (req.data = req.pooled.subarray(0, req.length));
}

/**
 * A busy poll's back-off: after a poll that timed out the connection skips the next 1, 2, 4 ...
 * up to 1024 chances to poll; one that finds data resets it.
 */
class PollBackoff {
  /** Chances still to skip. */
  skip = 0;
  /** The skip after the last miss (0: the last poll found data). */
  backoff = 0;

  /** Whether this chance is skipped (counted). */
  skipping(): boolean {
    if (this.skip === 0) return false;
    this.skip--;
    return true;
  }

  miss(): void {
    this.backoff = Math.min(this.backoff === 0 ? 1 : this.backoff * 2, 1024);
    this.skip = this.backoff;
  }
}

/** The longest one busy poll holds the event loop (µs), however many requests it serves. */
const POLL_BUDGET_US = 500;

/**
 * writev(2) on a non-blocking socket: the bytes the kernel took (0 when it took none), or -1
 * when the connection is gone (EPIPE, ECONNRESET...).
 */
function writeNow(fd: number, bufs: Buffer[]): number {
  try {
    return bufs.length === 1 ? writeSync(fd, bufs[0]!) : writevSync(fd, bufs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR' ? 0 : -1;
  }
}
const RAM_READ = RamDisk.prototype.read;
const RAM_WRITE = RamDisk.prototype.write;
const RAM_FLUSH = RamDisk.prototype.flush;
const CORK = process.env['UCRYPT_NBD_CORK'] !== '0';
