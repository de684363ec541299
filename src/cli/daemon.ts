// `ucrypt daemon`: run in the foreground, `--background` to detach, `--stop` to flush and stop.
// NBD options: `--listen unix:PATH|tcp:HOST:PORT` (repeatable; the runtime directory's nbd.sock
// is always served), `--tls=off|on|require` with `--tls-certificates=DIR`, `--tls-verify-peer`,
// `--tls-psk=FILE`, `--max-connections N` (NBD clients at once, default 1024; more are closed on
// accept).

import { parseArgs } from 'node:util';
import { ControlClient, spawnDaemon } from '../daemon/client.js';
import { runtimePaths } from '../daemon/paths.js';
import { socketAnswers, startDaemon } from '../daemon/server.js';
import { UcryptError, errorMessage } from '../errors.js';
import type { ListenSpec, NbdTlsOptions } from '../nbd/server.js';
import { parseListen } from '../nbd/server.js';
import type { CliIO } from './io.js';

const USAGE = 'usage: ucrypt daemon [--background | --stop | --status] [--listen unix:PATH|tcp:HOST:PORT]... [--tls=off|on|require] [--tls-certificates=DIR] [--tls-verify-peer] [--tls-psk=FILE] [--max-connections N]';

const OPTIONS = {
  background: { type: 'boolean' },
  stop: { type: 'boolean' },
  status: { type: 'boolean' },
  listen: { type: 'string', multiple: true },
  tls: { type: 'string' },
  'tls-certificates': { type: 'string' },
  'tls-verify-peer': { type: 'boolean' },
  'tls-psk': { type: 'string' },
  'max-connections': { type: 'string' },
} as const;

function maxConnections(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new UcryptError('ERR_BAD_ARGUMENT', 'EINVAL', `--max-connections ${v}: expected a positive integer`);
  return n;
}

function nbdOptions(v: { listen?: string[] | undefined; tls?: string | undefined; 'tls-certificates'?: string | undefined; 'tls-verify-peer'?: boolean | undefined; 'tls-psk'?: string | undefined }): { listen: ListenSpec[]; tls: NbdTlsOptions | undefined } {
  const listen = (v.listen ?? []).map(parseListen);
  const mode = v.tls ?? (v['tls-certificates'] || v['tls-psk'] ? 'on' : 'off');
  if (mode !== 'off' && mode !== 'on' && mode !== 'require') throw new UcryptError('ERR_BAD_ARGUMENT', 'EINVAL', `--tls=${mode}: expected off, on or require`);
  if (mode === 'off') return { listen, tls: undefined };
  const certificates = v['tls-certificates'];
  const psk = v['tls-psk'];
  if (!certificates && !psk) throw new UcryptError('ERR_BAD_ARGUMENT', 'EINVAL', `--tls=${mode} needs --tls-certificates=DIR or --tls-psk=FILE`);
  return { listen, tls: { mode, ...(certificates ? { certificates } : {}), ...(psk ? { psk } : {}), verifyPeer: v['tls-verify-peer'] ?? false } };
}

export async function daemonCommand(argv: readonly string[], io: CliIO): Promise<number> {
  let opts;
  let nbd;
  let maxConn;
  try {
    opts = parseArgs({ args: [...argv], options: OPTIONS, strict: true }).values;
    nbd = nbdOptions(opts);
    maxConn = maxConnections(opts['max-connections']);
  } catch (err) {
    io.err(`ucrypt daemon: ${errorMessage(err)}\n${USAGE}\n`);
    return 2;
  }
  const paths = runtimePaths(io.env);
  try {
    if (opts.stop) return await stop(io, paths.control);
    if (opts.status) {
      if (!(await socketAnswers(paths.control))) {
        io.out(`ucrypt: no daemon is running in ${paths.dir}\n`);
        return 3;
      }
      const c = await ControlClient.connect(paths.control);
      const r = await c.call<{ pid: number; version: string }>('ping');
      c.close();
      io.out(`ucrypt: daemon (pid ${r.pid}, ucrypt ${r.version}) is running in ${paths.dir}\n`);
      return 0;
    }
    if (opts.background) {
      if (await socketAnswers(paths.control)) {
        io.err(`ucrypt: a daemon is already running in ${paths.dir}\n`);
        return 0;
      }
      // Everything but --background goes to the detached daemon as given.
      const pid = await spawnDaemon(paths, argv.filter((a) => a !== '--background'));
      io.err(`ucrypt: started daemon (pid ${pid}), runtime directory ${paths.dir}\n`);
      return 0;
    }
    const d = await startDaemon({ paths, listen: nbd.listen, ...(nbd.tls ? { tls: nbd.tls } : {}), ...(maxConn ? { maxConnections: maxConn } : {}) });
    const onSignal = (): void => void d.stop();
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    await d.stopped;
    return 0;
  } catch (err) {
    io.err(`ucrypt daemon: ${errorMessage(err)}\n`);
    return 1;
  }
}

async function stop(io: CliIO, control: string): Promise<number> {
  let c: ControlClient;
  try {
    c = await ControlClient.connect(control);
  } catch {
    io.err('ucrypt: no daemon is running\n');
    return 0;
  }
  const r = await c.call<{ pid: number }>('shutdown');
  // The daemon stops answering at once, but exits only after every device is flushed and its
  // socket and lock are removed: wait for the process itself to be gone (up to 60 s).
  for (let i = 0; i < 1200 && processAlive(r.pid); i++) await new Promise((res) => setTimeout(res, 50));
  c.close();
  io.err(`ucrypt: daemon (pid ${r.pid}) stopped\n`);
  return 0;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
