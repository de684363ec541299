// Where the daemon lives: $UCRYPT_RUNTIME_DIR, else $XDG_RUNTIME_DIR/ucrypt, else
// /tmp/ucrypt-<uid>. The directory is 0700 and the sockets in it 0600.

import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RuntimePaths {
  readonly dir: string;
  readonly control: string;
  readonly lock: string;
  readonly log: string;
  /** The NBD server's unix socket. */
  readonly nbd: string;
}

export function runtimePaths(env: NodeJS.ProcessEnv = process.env): RuntimePaths {
  const uid = process.getuid?.() ?? 0;
  const dir = env['UCRYPT_RUNTIME_DIR'] || (env['XDG_RUNTIME_DIR'] ? join(env['XDG_RUNTIME_DIR'], 'ucrypt') : join(tmpdir(), `ucrypt-${uid}`));
  return { dir, control: join(dir, 'control.sock'), lock: join(dir, 'daemon.pid'), log: join(dir, 'daemon.log'), nbd: join(dir, 'nbd.sock') };
}
