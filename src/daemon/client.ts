// The CLI side of the control socket, and starting the daemon on demand: any subcommand that
// needs the daemon starts one in the background when none answers, and says so on stderr.

import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import type { Socket } from 'node:net';
import { createConnection } from 'node:net';
import { fileURLToPath } from 'node:url';
import { UcryptError } from '../errors.js';
import type { RuntimePaths } from './paths.js';
import type { Reply } from './protocol.js';
import { fromWireError } from './protocol.js';
import { prepareRuntimeDir, socketAnswers } from './server.js';

export class ControlClient {
  private nextId = 1;
  private buf = '';
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();

  private constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      this.buf += chunk;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const reply = JSON.parse(this.buf.slice(0, nl)) as Reply;
        this.buf = this.buf.slice(nl + 1);
        const p = this.pending.get(reply.id);
        if (!p) continue;
        this.pending.delete(reply.id);
        if (reply.ok) p.resolve(reply.result);
        else p.reject(fromWireError(reply.error));
      }
    });
    const fail = (err: unknown): void => {
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    sock.on('error', fail);
    sock.on('close', () => fail(new UcryptError('ERR_DAEMON', 'EIO', 'the ucrypt daemon closed the connection')));
  }

  static connect(path: string): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const sock = createConnection(path);
      sock.once('connect', () => resolve(new ControlClient(sock)));
      sock.once('error', (err) => reject(err));
    });
  }

  call<T = unknown>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.sock.write(`${JSON.stringify({ id, op, args })}\n`);
    });
  }

  close(): void {
    this.sock.end();
  }
}

const BIN = fileURLToPath(new URL('../../../bin/ucrypt.js', import.meta.url));

/** Starts `ucrypt daemon` detached, logging to the runtime directory's daemon.log; waits until it answers. */
export async function spawnDaemon(paths: RuntimePaths, extraArgs: readonly string[] = []): Promise<number> {
  await prepareRuntimeDir(paths.dir);
  const out = openSync(paths.log, 'a', 0o600);
  const child = spawn(process.execPath, [BIN, 'daemon', ...extraArgs], {
    detached: true,
    stdio: ['ignore', out, out],
    env: { ...process.env, UCRYPT_RUNTIME_DIR: paths.dir },
  });
  closeSync(out);
  child.unref();
  const pid = child.pid ?? 0;
  let exited: number | null = null;
  child.once('exit', (code) => (exited = code ?? 1));
  for (let i = 0; i < 200; i++) {
    if (await socketAnswers(paths.control, 200)) return pid;
    if (exited !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new UcryptError('ERR_DAEMON', 'EIO', `the ucrypt daemon did not start; see ${paths.log}`);
}

/** Connects to the daemon, starting one first if none answers. */
export async function connectOrStart(paths: RuntimePaths, notify: (msg: string) => void): Promise<ControlClient> {
  try {
    return await ControlClient.connect(paths.control);
  } catch {
    const pid = await spawnDaemon(paths);
    notify(`ucrypt: started daemon (pid ${pid}), runtime directory ${paths.dir}`);
    return ControlClient.connect(paths.control);
  }
}
