// `ucrypt daemon`: run in the foreground, `--background` to detach, `--stop` to flush and stop.

import { parseArgs } from 'node:util';
import { ControlClient, spawnDaemon } from '../daemon/client.js';
import { runtimePaths } from '../daemon/paths.js';
import { socketAnswers, startDaemon } from '../daemon/server.js';
import { errorMessage } from '../errors.js';
import type { CliIO } from './io.js';

export async function daemonCommand(argv: readonly string[], io: CliIO): Promise<number> {
  let opts;
  try {
    opts = parseArgs({ args: [...argv], options: { background: { type: 'boolean' }, stop: { type: 'boolean' }, status: { type: 'boolean' } }, strict: true }).values;
  } catch (err) {
    io.err(`ucrypt daemon: ${errorMessage(err)}\nusage: ucrypt daemon [--background | --stop | --status]\n`);
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
      const pid = await spawnDaemon(paths);
      io.err(`ucrypt: started daemon (pid ${pid}), runtime directory ${paths.dir}\n`);
      return 0;
    }
    const d = await startDaemon({ paths });
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
  // The daemon removes its socket once every device is flushed.
  for (let i = 0; i < 600 && (await socketAnswers(control, 200)); i++) await new Promise((res) => setTimeout(res, 50));
  c.close();
  io.err(`ucrypt: daemon (pid ${r.pid}) stopped\n`);
  return 0;
}
