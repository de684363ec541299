// `ucrypt daemon`: owns the registry (RAM disks, mapped devices) and answers the control socket.
//
// Start-up takes the runtime directory (0700, ours), a pid lock (O_EXCL; a lock whose process is
// gone is stale and taken over), removes a socket no daemon answers, and listens (0600). A daemon
// that dies therefore never blocks the next one. Shutdown flushes every device first.

import { promises as fsp, constants as fsc } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { createConnection, createServer } from 'node:net';
import { Registry } from '../dm/registry.js';
import { UcryptError, errorMessage } from '../errors.js';
import { handlers } from './handlers.js';
import type { ListenSpec, NbdTlsOptions } from '../nbd/server.js';
import { NbdServer } from '../nbd/server.js';
import type { RuntimePaths } from './paths.js';
import type { Reply } from './protocol.js';
import { MAX_LINE, MAX_PENDING, argString, parseRequest, toWireError } from './protocol.js';

export interface Daemon {
  readonly registry: Registry;
  readonly paths: RuntimePaths;
  /** The NBD server (every RAM disk and mapped device is an export). */
  readonly nbd: NbdServer;
  /** Resolves when the daemon has stopped. */
  readonly stopped: Promise<void>;
  stop(): Promise<void>;
}

export interface DaemonOptions {
  readonly paths: RuntimePaths;
  /** Where log lines go (stderr in the foreground, the log file in the background). */
  readonly log?: (line: string) => void;
  readonly registry?: Registry;
  /** Extra NBD listeners (the unix socket paths.nbd is always served) and TLS settings. */
  readonly listen?: readonly ListenSpec[];
  readonly tls?: NbdTlsOptions;
  /** NBD connections served at once (`--max-connections`); NbdServer's default when absent. */
  readonly maxConnections?: number;
}

/**
 * The warning for a daemon that may dump core: a core file holds the keys of every open crypt
 * device. Node cannot lower RLIMIT_CORE or call prctl(PR_SET_DUMPABLE), so the daemon says so and
 * the user sets `ulimit -c 0` (systemd: LimitCORE=0). `limits` is /proc/self/limits.
 */
export function coreDumpWarning(limits: string): string | undefined {
  const m = /^Max core file size\s+(\S+)/m.exec(limits);
  if (!m || m[1] === '0') return undefined;
  return `ucrypt: warning: core dumps are enabled (core file size limit ${m[1]}); a core dump of the daemon would hold the keys of its crypt devices: start it with 'ulimit -c 0' (systemd: LimitCORE=0)`;
}

/** Makes sure the runtime directory exists, is a directory we own, and is private. */
export async function prepareRuntimeDir(dir: string): Promise<void> {
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await fsp.lstat(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory()) throw new UcryptError('ERR_DAEMON', 'ENOTSUP', `${dir} is not a directory`);
  if (uid !== undefined && st.uid !== uid) throw new UcryptError('ERR_DAEMON', 'EACCES', `${dir} belongs to uid ${st.uid}, not to you (uid ${uid}); set UCRYPT_RUNTIME_DIR to a directory of yours`);
  if ((st.mode & 0o777) !== 0o700) await fsp.chmod(dir, 0o700);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Does a daemon answer on this socket? */
export function socketAnswers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

async function takeLock(paths: RuntimePaths): Promise<void> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await fsp.open(paths.lock, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await fsp.readFile(paths.lock, 'utf8').catch(() => '')).trim());
      if (pid > 0 && pidAlive(pid) && (await socketAnswers(paths.control))) {
        throw new UcryptError('ERR_DAEMON', 'EBUSY', `a ucrypt daemon (pid ${pid}) is already running in ${paths.dir}`);
      }
      // Stale: its process is gone or it no longer answers.
      await fsp.rm(paths.lock, { force: true });
    }
  }
  throw new UcryptError('ERR_DAEMON', 'EBUSY', `could not take the daemon lock ${paths.lock}`);
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const { paths } = opts;
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  await prepareRuntimeDir(paths.dir);
  await takeLock(paths);
  await fsp.rm(paths.control, { force: true });
  const registry = opts.registry ?? new Registry();
  registry.onLog = log;
  let nbd: NbdServer;
  try {
    nbd = new NbdServer({ registry, log, ...(opts.tls ? { tls: opts.tls } : {}), ...(opts.maxConnections ? { maxConnections: opts.maxConnections } : {}) });
    await nbd.listen({ kind: 'unix', path: paths.nbd });
    for (const l of opts.listen ?? []) await nbd.listen(l);
  } catch (err) {
    await fsp.rm(paths.lock, { force: true });
    throw err;
  }
  const sockets = new Set<Socket>();
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  let stopping: Promise<void> | undefined;

  const server: Server = createServer((sock) => serveControl(sock));
  function serveControl(sock: Socket): void {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf = '';
    let refused = false;
    // Requests on one connection are answered in order; a client that sends faster than it
    // reads replies is paused once MAX_PENDING requests wait, so memory stays bounded.
    let chain = Promise.resolve();
    let pending = 0;
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      if (refused) return;
      let start = 0;
      let nl: number;
      // Only the new chunk is searched for newlines: linear in the input, whatever its shape.
      while ((nl = chunk.indexOf('\n', start)) >= 0) {
        const line = buf + chunk.slice(start, nl);
        buf = '';
        start = nl + 1;
        if (++pending >= MAX_PENDING) sock.pause();
        chain = chain.then(() => handle(sock, line)).then(() => {
          if (--pending < MAX_PENDING && sock.isPaused()) sock.resume();
        });
      }
      buf += chunk.slice(start);
      if (buf.length > MAX_LINE) {
        refused = true;
        buf = '';
        send(sock, { id: 0, ok: false, error: toWireError(new UcryptError('ERR_CONTROL_PROTOCOL', 'EINVAL', `control message longer than ${MAX_LINE} bytes`)) });
        sock.end();
      }
    });
  }

  async function handle(sock: Socket, line: string): Promise<void> {
    let id = 0;
    try {
      const req = parseRequest(line);
      id = req.id;
      if (req.op === 'nbd.uri') {
        // The URIs of an export, TCP listeners first (what a client on another host needs).
        const name = argString(req.args, 'name');
        if (!registry.exportNames().includes(name)) throw new UcryptError('ERR_NO_DEVICE', 'ENXIO', `${name}: no such export (exports: ${registry.exportNames().join(', ') || 'none'})`);
        const uris = nbd.uris(name);
        send(sock, { id, ok: true, result: { uris: [...uris.filter((u) => !u.includes('+unix')), ...uris.filter((u) => u.includes('+unix'))] } });
        return;
      }
      if (req.op === 'shutdown') {
        send(sock, { id, ok: true, result: { pid: process.pid } });
        void stop();
        return;
      }
      const h = Object.hasOwn(handlers, req.op) ? handlers[req.op] : undefined;
      if (!h) throw new UcryptError('ERR_CONTROL_PROTOCOL', 'EINVAL', `unknown control operation '${req.op}'`);
      send(sock, { id, ok: true, result: await h(registry, req.args) });
    } catch (err) {
      if (!(err instanceof UcryptError)) log(`ucrypt: internal error: ${errorMessage(err)}`);
      send(sock, { id, ok: false, error: toWireError(err) });
    }
  }

  function send(sock: Socket, reply: Reply): void {
    if (!sock.destroyed) sock.write(`${JSON.stringify(reply)}\n`);
  }

  async function stop(): Promise<void> {
    stopping ??= (async () => {
      const closed = new Promise<void>((r) => server.close(() => r()));
      await nbd.close();
      await registry.flushAll();
      for (const s of sockets) {
        s.end();
        setTimeout(() => s.destroy(), 1000).unref();
      }
      await closed;
      await fsp.rm(paths.control, { force: true });
      const pid = Number((await fsp.readFile(paths.lock, 'utf8').catch(() => '')).trim());
      if (pid === process.pid) await fsp.rm(paths.lock, { force: true });
      log('ucrypt: daemon stopped');
      resolveStopped();
    })();
    return stopping;
  }

  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(paths.control, () => resolve());
    });
  } finally {
    process.umask(oldMask);
  }
  await fsp.chmod(paths.control, 0o600);
  log(`ucrypt: daemon (pid ${process.pid}) listening on ${paths.control}`);
  const core = coreDumpWarning(await fsp.readFile('/proc/self/limits', 'utf8').catch(() => ''));
  if (core) log(core);
  log(`ucrypt: NBD exports on ${nbd.listening.map((l) => (l.kind === 'unix' ? l.path : `${l.host}:${l.port}`)).join(', ')}${nbd.tlsMode === 'off' ? '' : ` (TLS ${nbd.tlsMode})`}`);
  return { registry, paths, nbd, stopped, stop };
}
