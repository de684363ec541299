// The NBD options of `ucrypt daemon` and `ucrypt nbd-uri`: usage errors and the socket's mode.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanupRuntime, tempRuntime, ucrypt } from '../helpers/proc.js';

test('daemon NBD options: bad --listen, --tls without keys, unknown --tls mode', async () => {
  const dir = await tempRuntime();
  try {
    for (const [args, msg] of [
      [['--listen', 'bogus'], /expected unix:PATH or tcp:HOST:PORT/],
      [['--tls=on'], /needs --tls-certificates=DIR or --tls-psk=FILE/],
      [['--tls=maybe', '--tls-psk=/x'], /expected off, on or require/],
    ] as const) {
      const r = await ucrypt(dir, ['daemon', ...args]);
      assert.equal(r.exit, 2, r.stderr);
      assert.match(r.stderr, msg);
      assert.match(r.stderr, /usage: ucrypt daemon/);
    }
    const missing = await ucrypt(dir, ['daemon', '--tls=require', `--tls-psk=${join(dir, 'none.psk')}`]);
    assert.equal(missing.exit, 1);
    assert.match(missing.stderr, /ENOENT|no such file/i);
  } finally {
    await cleanupRuntime(dir);
  }
});

test('nbd-uri: usage, and nbd.sock is private', async () => {
  const dir = await tempRuntime();
  try {
    const u = await ucrypt(dir, ['nbd-uri']);
    assert.equal(u.exit, 2);
    assert.match(u.stderr, /usage: ucrypt nbd-uri NAME/);
    assert.equal((await ucrypt(dir, ['modprobe', 'brd', 'rd_nr=1', 'rd_size=1024'])).exit, 0);
    const r = await ucrypt(dir, ['nbd-uri', 'ram0']);
    assert.equal(r.exit, 0, r.stderr);
    assert.equal(r.stdout, `nbd+unix:///ram0?socket=${join(dir, 'nbd.sock')}\n`);
    assert.equal((await stat(join(dir, 'nbd.sock'))).mode & 0o777, 0o600);
  } finally {
    await ucrypt(dir, ['daemon', '--stop']);
    await cleanupRuntime(dir);
  }
});
