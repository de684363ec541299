// The NBD options of `ucrypt daemon` and `ucrypt nbd-uri`: usage errors and the socket's mode.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanupRuntime, tempRuntime, ucrypt } from '../helpers/proc.js';
import { CMD } from '../../src/nbd/protocol.js';
import { RawClient } from './client.js';

test('daemon NBD options: bad --listen, --tls without keys, unknown --tls mode', async () => {
  const dir = await tempRuntime();
  try {
    for (const [args, msg] of [
      [['--listen', 'bogus'], /expected unix:PATH or tcp:HOST:PORT/],
      [['--tls=on'], /needs --tls-certificates=DIR or --tls-psk=FILE/],
      [['--tls=maybe', '--tls-psk=/x'], /expected off, on or require/],
      [['--max-connections', '0'], /--max-connections 0: expected a positive integer/],
      [['--max-connections=lots'], /expected a positive integer/],
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

test('daemon --max-connections N: the N+1th NBD client is closed with a log line, the others keep working', async () => {
  const dir = await tempRuntime();
  try {
    const d = await ucrypt(dir, ['daemon', '--background', '--max-connections', '2']);
    assert.equal(d.exit, 0, d.stderr);
    assert.equal((await ucrypt(dir, ['modprobe', 'brd', 'rd_nr=1', 'rd_size=1024'])).exit, 0);
    const sock = join(dir, 'nbd.sock');
    const a = await RawClient.connect(sock);
    const b = await RawClient.connect(sock);
    await a.hello();
    await b.hello();
    const c = await RawClient.connect(sock);
    assert.ok(await c.closedByServer(), 'the third client is closed without a greeting');
    await a.go('ram0');
    a.request(CMD.FLUSH, 1n, 0, 0);
    assert.equal((await a.reply()).error, 0);
    a.close();
    b.close();
    let log = '';
    for (let i = 0; i < 50 && !log.includes('refused'); i++) {
      await new Promise((r) => setTimeout(r, 50));
      log = await readFile(join(dir, 'daemon.log'), 'utf8').catch(() => '');
    }
    assert.match(log, /nbd: refused 1 connection: 2 already open \(--max-connections\)/);
  } finally {
    await ucrypt(dir, ['daemon', '--stop']);
    await cleanupRuntime(dir);
  }
});
