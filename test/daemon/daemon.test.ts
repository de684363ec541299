// The daemon's lifecycle and robustness, through the real binary and through raw sockets.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { chown, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startDaemon, socketAnswers } from '../../src/daemon/server.js';
import { ControlClient } from '../../src/daemon/client.js';
import { runtimePaths } from '../../src/daemon/paths.js';
import { MAX_LINE } from '../../src/daemon/protocol.js';
import { cleanupRuntime, tempRuntime, ucrypt } from '../helpers/proc.js';

test('a subcommand starts the daemon on demand, says so once, and the runtime directory is private', async () => {
  const dir = await tempRuntime();
  try {
    const first = await ucrypt(dir, ['dmsetup', 'ls']);
    assert.equal(first.exit, 0, first.stderr);
    assert.equal(first.stdout, 'No devices found\n');
    assert.match(first.stderr, /^ucrypt: started daemon \(pid \d+\), runtime directory /);
    const second = await ucrypt(dir, ['dmsetup', 'ls']);
    assert.equal(second.stderr, '', 'no second start');
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal((await stat(join(dir, 'control.sock'))).mode & 0o777, 0o600);
    const status = await ucrypt(dir, ['daemon', '--status']);
    assert.equal(status.exit, 0);
    assert.match(status.stdout, /is running/);
  } finally {
    await cleanupRuntime(dir);
  }
});

test('daemon --stop flushes, removes its socket and lock; --status then reports none', async () => {
  const dir = await tempRuntime();
  try {
    const bg = await ucrypt(dir, ['daemon', '--background']);
    assert.equal(bg.exit, 0, bg.stderr);
    const file = join(dir, '..', 'disk.img');
    await writeFile(file, Buffer.alloc(1 << 20));
    assert.equal((await ucrypt(dir, ['dmsetup', 'create', 'f', '--table', `0 2048 linear ${file} 0`])).exit, 0);
    const c = await ControlClient.connect(join(dir, 'control.sock'));
    await c.call('io.write', { device: 'f', offset: 4096, data: Buffer.alloc(512, 0xab).toString('base64') });
    c.close();
    const stop = await ucrypt(dir, ['daemon', '--stop']);
    assert.equal(stop.exit, 0);
    assert.match(stop.stderr, /stopped/);
    assert.equal(await socketAnswers(join(dir, 'control.sock')), false);
    await assert.rejects(stat(join(dir, 'control.sock')));
    await assert.rejects(stat(join(dir, 'daemon.pid')));
    const disk = await readFile(file);
    assert.deepEqual(disk.subarray(4096, 4096 + 512), Buffer.alloc(512, 0xab));
    const status = await ucrypt(dir, ['daemon', '--status']);
    assert.equal(status.exit, 3);
  } finally {
    await cleanupRuntime(dir);
  }
});

test('a daemon killed with SIGKILL leaves nothing that blocks the next one', async () => {
  const dir = await tempRuntime();
  try {
    assert.equal((await ucrypt(dir, ['modprobe', 'brd', 'rd_nr=1', 'rd_size=1024'])).exit, 0);
    const pid = Number((await readFile(join(dir, 'daemon.pid'), 'utf8')).trim());
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(pid, 0);
        await new Promise((r) => setTimeout(r, 20));
      } catch {
        break;
      }
    }
    await stat(join(dir, 'control.sock')); // the stale socket is still there
    const again = await ucrypt(dir, ['dmsetup', 'ls']);
    assert.equal(again.exit, 0, again.stderr);
    assert.match(again.stderr, /started daemon/);
    assert.equal(again.stdout, 'No devices found\n');
  } finally {
    await cleanupRuntime(dir);
  }
});

test('a second daemon on the same runtime directory is refused', async () => {
  const dir = await tempRuntime();
  const paths = runtimePaths({ UCRYPT_RUNTIME_DIR: dir });
  const d = await startDaemon({ paths, log: () => {} });
  try {
    await assert.rejects(startDaemon({ paths, log: () => {} }), /already running/);
    assert.equal(await socketAnswers(paths.control), true, 'the first one still answers');
  } finally {
    await d.stop();
    await cleanupRuntime(dir);
  }
});

test('a runtime directory owned by someone else is refused', { skip: process.getuid?.() !== 0 ? 'needs root to chown' : false }, async () => {
  const dir = await tempRuntime();
  try {
    await mkdir(dir, { mode: 0o700 });
    await chown(dir, 65534, 65534);
    const paths = runtimePaths({ UCRYPT_RUNTIME_DIR: dir });
    await assert.rejects(startDaemon({ paths, log: () => {} }), /belongs to uid 65534/);
  } finally {
    await cleanupRuntime(dir);
  }
});

/** Sends raw bytes and collects reply lines until `count` arrived. */
function raw(path: string, payload: string | Buffer, count: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = createConnection(path);
    let buf = '';
    const lines: string[] = [];
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
      if (lines.length >= count) {
        s.destroy();
        resolve(lines);
      }
    });
    s.on('close', () => resolve(lines));
    s.on('error', reject);
    s.write(payload);
  });
}

test('malformed control messages get errors and every device keeps working', async () => {
  const dir = await tempRuntime();
  const paths = runtimePaths({ UCRYPT_RUNTIME_DIR: dir });
  const d = await startDaemon({ paths, log: () => {} });
  try {
    const c = await ControlClient.connect(paths.control);
    await c.call('modprobe', { module: 'brd', params: ['rd_nr=1', 'rd_size=1024'] });
    await c.call('dm.create', { name: 'good', table: '0 2048 linear /dev/ram0 0' });
    const data = Buffer.alloc(4096, 0x5a);
    await c.call('io.write', { device: 'good', offset: 8192, data: data.toString('base64') });

    const garbage = [
      'not json',
      '[]',
      '42',
      '{"id":1}',
      '{"id":"x","op":"ping"}',
      '{"id":2,"op":"no.such.op"}',
      '{"id":3,"op":"dm.create","args":{"name":5}}',
      '{"id":4,"op":"dm.create","args":{"name":"bad","table":"0 10 linear /dev/ram0"}}',
      '{"id":5,"op":"dm.create","args":{"name":"bad","lines":[{"start":-1,"length":1,"type":"zero","params":""}]}}',
      '{"id":6,"op":"dm.remove","args":{"name":"nosuch"}}',
      '{"id":7,"op":"io.read","args":{"device":"good","offset":1,"length":512}}',
      '{"id":8,"op":"io.read","args":{"device":"good","offset":0,"length":999999999}}',
      '{"id":9,"op":"modprobe","args":{"module":"brd","params":"rd_nr=1"}}',
      '{"id":10,"op":"__proto__"}',
      '{"id":11,"op":"toString"}',
      '\u0000\u0001\u0002\uffff',
    ];
    const replies = await raw(paths.control, garbage.map((g) => `${g}\n`).join(''), garbage.length);
    assert.equal(replies.length, garbage.length);
    for (const r of replies) {
      const o = JSON.parse(r) as { ok: boolean; error?: { message: string; code: string } };
      assert.equal(o.ok, false, r);
      assert.ok(o.error && o.error.message.length > 0, r);
    }
    // A line longer than the limit closes only that connection.
    const huge = await raw(paths.control, Buffer.alloc(MAX_LINE + 1024, 0x61), 1);
    assert.match(huge[0] ?? '', /longer than/);
    // A client that vanishes mid-line is harmless.
    await new Promise<void>((resolve) => {
      const s = createConnection(paths.control, () => {
        s.write('{"id":1,"op":"pi');
        s.destroy();
        resolve();
      });
    });

    const back = Buffer.from((await c.call<{ data: string }>('io.read', { device: 'good', offset: 8192, length: 4096 })).data, 'base64');
    assert.deepEqual(back, data);
    assert.deepEqual((await c.call<{ name: string }[]>('dm.list')).map((x) => x.name), ['good']);
    c.close();
  } finally {
    await d.stop();
    await cleanupRuntime(dir);
  }
});

test('many clients at once are served independently', async () => {
  const dir = await tempRuntime();
  const paths = runtimePaths({ UCRYPT_RUNTIME_DIR: dir });
  const d = await startDaemon({ paths, log: () => {} });
  try {
    const clients = await Promise.all(Array.from({ length: 16 }, () => ControlClient.connect(paths.control)));
    await clients[0]!.call('modprobe', { module: 'brd', params: ['rd_nr=1', 'rd_size=4096'] });
    await Promise.all(clients.map((c, i) => c.call('dm.create', { name: `d${i}`, table: `0 256 linear /dev/ram0 ${i * 256}` })));
    await Promise.all(clients.map((c, i) => c.call('io.write', { device: `d${i}`, offset: 0, data: Buffer.alloc(512, i).toString('base64') })));
    for (const [i, c] of clients.entries()) {
      const got = Buffer.from((await c.call<{ data: string }>('io.read', { device: `/dev/ram0`, offset: i * 256 * 512, length: 512 })).data, 'base64');
      assert.deepEqual(got, Buffer.alloc(512, i));
    }
    for (const c of clients) c.close();
  } finally {
    await d.stop();
    await cleanupRuntime(dir);
  }
});
