// The file backend's synchronous submission (readNow/writeNow over preadv2/pwritev2 with
// RWF_NOWAIT, native/ucrypt_io.c via src/backends/file/nowait.ts). The addon's calls themselves,
// then FileDevice against its own asynchronous path, with the real calls and with injected ones
// (EAGAIN, short counts, EOPNOTSUPP) so every fallback is exercised whatever the file system does.
// With UCRYPT_REQUIRE_NATIVE=1 (scripts/test.sh) a missing addon fails instead of skipping.

import { after, before, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomFillSync } from 'node:crypto';
import { FileDevice } from '../../src/backends/file/file.js';
import { NOWAIT_EAGAIN, nowaitIo } from '../../src/backends/file/nowait.js';
import type { NowaitIo } from '../../src/backends/file/nowait.js';

const REQUIRE = process.env['UCRYPT_REQUIRE_NATIVE'] === '1';
const EOPNOTSUPP = -95;
let dir = '';
let seq = 0;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ucrypt-nowait-test-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function makeFile(content: Uint8Array): string {
  const path = join(dir, `disk-${++seq}.img`);
  writeFileSync(path, content);
  return path;
}

function random(n: number): Uint8Array {
  return randomFillSync(new Uint8Array(n));
}

function native(t: TestContext): NowaitIo | undefined {
  const io = nowaitIo();
  if (!io) {
    assert.ok(!REQUIRE, 'UCRYPT_REQUIRE_NATIVE=1 but the addon has no nowait I/O');
    t.skip('native addon not built: no nowait I/O');
  }
  return io;
}

/**
 * Nowait calls done with readSync/writeSync, failing as told: `script` is consumed one entry per
 * call ('ok', 'again' = EAGAIN, 'short' = half done then stop, 'unsupported' = EOPNOTSUPP).
 */
class FakeNowait implements NowaitIo {
  readonly calls: string[] = [];
  constructor(public script: string[] = []) {}
  private next(kind: string): string {
    const s = this.script.shift() ?? 'ok';
    this.calls.push(`${kind}:${s}`);
    return s;
  }
  read(fd: number, buf: Uint8Array, bufOffset: number, length: number, position: number): number {
    const s = this.next('read');
    if (s === 'again') return NOWAIT_EAGAIN;
    if (s === 'unsupported') return EOPNOTSUPP;
    return readSync(fd, buf, bufOffset, s === 'short' ? length / 2 : length, position);
  }
  write(fd: number, buf: Uint8Array, bufOffset: number, length: number, position: number): number {
    const s = this.next('write');
    if (s === 'again') return NOWAIT_EAGAIN;
    if (s === 'unsupported') return EOPNOTSUPP;
    return writeSync(fd, buf, bufOffset, s === 'short' ? length / 2 : length, position);
  }
}

test('native preadNowait: cached data into plain and SharedArrayBuffer views, short at EOF, 0 past it', (t) => {
  const io = native(t);
  if (!io) return;
  const data = random(16384);
  const path = makeFile(data);
  readFileSync(path); // in the page cache now
  const fd = openSync(path, 'r');
  try {
    const plain = new Uint8Array(4096);
    assert.equal(io.read(fd, plain, 0, 4096, 4096), 4096);
    assert.deepEqual(plain, data.subarray(4096, 8192));
    const shared = new Uint8Array(new SharedArrayBuffer(12288), 1024, 8192);
    assert.equal(io.read(fd, shared, 512, 4096, 8192), 4096, 'bufOffset and a view with a byteOffset');
    assert.deepEqual(shared.subarray(512, 4608), data.subarray(8192, 12288));
    assert.equal(io.read(fd, plain, 0, 4096, 16384 - 1000), 1000, 'a short count at EOF');
    assert.equal(io.read(fd, plain, 0, 4096, 16384), 0, '0 at EOF');
    assert.throws(() => io.read(fd, plain, 1, 4096, 0), RangeError, 'a range outside the buffer is misuse');
  } finally {
    closeSync(fd);
  }
});

test('native pwriteNowait: done in the call, or EOPNOTSUPP/EAGAIN where the file system cannot (ext4)', (t) => {
  const io = native(t);
  if (!io) return;
  const path = makeFile(new Uint8Array(8192));
  const fd = openSync(path, 'r+');
  try {
    const data = random(4096);
    const n = io.write(fd, data, 0, 4096, 4096);
    if (n === 4096) assert.deepEqual(readFileSync(path).subarray(4096), Buffer.from(data));
    else assert.ok(n === EOPNOTSUPP || n === NOWAIT_EAGAIN, `unexpected ${n}`);
    t.diagnostic(`pwritev2(RWF_NOWAIT) on ${tmpdir()}: ${n}`);
  } finally {
    closeSync(fd);
  }
});

test('native preadNowait on an O_DIRECT descriptor into an unaligned buffer returns a negative errno, never throws', (t) => {
  const io = native(t);
  if (!io) return;
  const path = makeFile(random(8192));
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_DIRECT);
  } catch {
    t.skip('no O_DIRECT on this file system');
    return;
  }
  try {
    const n = io.read(fd, new Uint8Array(8192), 1, 4096, 0);
    assert.ok(n < 0, `got ${n}`);
  } finally {
    closeSync(fd);
  }
});

test('FileDevice readNow (real nowait): the same bytes as read(), counted; writeNow matches write() or turns itself off', async (t) => {
  if (!native(t)) return;
  const data = random(64 << 10);
  const path = makeFile(data);
  const dev = await FileDevice.open(path);
  try {
    const viaAsync = new Uint8Array(16384);
    await dev.read(8192, viaAsync);
    const viaNow = new Uint8Array(16384);
    const now = dev.readNow(8192, viaNow);
    if (!now && !dev.nowaitStats.readOn) {
      t.skip(`no nowait reads on ${tmpdir()}'s file system`);
      return;
    }
    assert.equal(now, true, 'the page cache holds the file just written');
    assert.deepEqual(viaNow, viaAsync);
    assert.equal(dev.nowaitStats.reads, 1);
    const w = random(8192);
    if (dev.writeNow(0, w)) {
      assert.deepEqual(readFileSync(path).subarray(0, 8192), Buffer.from(w));
      assert.equal(dev.nowaitStats.writes, 1);
    } else {
      await dev.write(0, w);
      t.diagnostic(`writeNow declined (writeOn ${dev.nowaitStats.writeOn})`);
    }
    await dev.flush();
    assert.deepEqual(readFileSync(path).subarray(0, 8192), Buffer.from(w));
    assert.throws(() => dev.readNow(data.length, viaNow), { errno: 'ENOSPC' }, 'range checks as read()');
  } finally {
    await dev.close();
  }
  assert.equal(dev.readNow(0, new Uint8Array(512)), false, 'closed: declines');
});

test('FileDevice readNow fallbacks (injected): EAGAIN and a short count decline, the async read then serves; EOPNOTSUPP turns reads off', async () => {
  const data = random(32768);
  const fake = new FakeNowait(['again', 'short', 'ok', 'unsupported']);
  const dev = await FileDevice.open(makeFile(data), { nowait: fake });
  try {
    const buf = new Uint8Array(8192);
    for (const expect of [false, false]) {
      buf.fill(0);
      assert.equal(dev.readNow(4096, buf), expect);
      await dev.read(4096, buf);
      assert.deepEqual(buf, data.subarray(4096, 12288));
    }
    assert.equal(dev.readNow(4096, buf), true);
    assert.deepEqual(buf, data.subarray(4096, 12288));
    assert.equal(dev.readNow(0, buf), false);
    assert.equal(dev.nowaitStats.readOn, false);
    assert.equal(dev.readNow(0, buf), false, 'off for good: no more calls');
    assert.deepEqual(fake.calls, ['read:again', 'read:short', 'read:ok', 'read:unsupported']);
    assert.deepEqual({ r: dev.nowaitStats.reads, d: dev.nowaitStats.readsDeclined }, { r: 1, d: 3 });
  } finally {
    await dev.close();
  }
});

test('FileDevice writeNow (injected): done in the call, then durable with flush; short/EAGAIN decline and write() redoes all; FUA, direct and read-only never try', async () => {
  const path = makeFile(new Uint8Array(32768));
  const fake = new FakeNowait(['ok', 'short', 'again', 'unsupported']);
  const dev = await FileDevice.open(path, { nowait: fake });
  try {
    const a = random(8192);
    assert.equal(dev.writeNow(0, a), true);
    await dev.flush();
    assert.deepEqual(readFileSync(path).subarray(0, 8192), Buffer.from(a));
    const b = random(8192);
    assert.equal(dev.writeNow(8192, b), false, 'a short write is not reported as done');
    assert.deepEqual(readFileSync(path).subarray(8192, 12288), Buffer.from(b.subarray(0, 4096)), 'half landed');
    await dev.write(8192, b);
    assert.deepEqual(readFileSync(path).subarray(8192, 16384), Buffer.from(b));
    assert.equal(dev.writeNow(16384, b), false, 'EAGAIN');
    assert.equal(dev.writeNow(0, b, { fua: true }), false, 'FUA takes the async path (write + fdatasync)');
    assert.equal(dev.writeNow(16384, b), false, 'EOPNOTSUPP');
    assert.equal(dev.nowaitStats.writeOn, false);
    assert.equal(dev.nowaitStats.readOn, true, 'reads stay on');
    assert.deepEqual(fake.calls, ['write:ok', 'write:short', 'write:again', 'write:unsupported']);
  } finally {
    await dev.close();
  }
  for (const opts of [{ direct: true }, { readOnly: true }]) {
    const f = new FakeNowait();
    const d = await FileDevice.open(path, { ...opts, nowait: f });
    try {
      if (!opts.readOnly) assert.equal(d.writeNow(0, new Uint8Array(512)), false);
      assert.equal(d.readNow(0, new Uint8Array(512)), !opts.direct);
      assert.equal(f.calls.filter((c) => c.startsWith('write')).length, 0, `${JSON.stringify(opts)}: no nowait write`);
      if (opts.direct) assert.equal(f.calls.length, 0, 'direct (O_DSYNC): no nowait I/O at all');
    } finally {
      await d.close();
    }
  }
});

test('FileDevice bounded synchronous writes where nowait writes are off: whole aligned pages in the call; a slow one backs off (100 ms, doubling), a fast one resets', async () => {
  const path = makeFile(new Uint8Array(256 << 10));
  let now = 1000;
  let cost = 0; // what the next write "takes" on the injected clock
  const clock = (): number => {
    const t = now;
    now += cost;
    cost = 0;
    return t;
  };
  const fake = new FakeNowait(['unsupported']);
  const dev = await FileDevice.open(path, { nowait: fake, clock });
  try {
    const a = random(8192);
    assert.equal(dev.writeNow(0, a), false, 'the nowait attempt: EOPNOTSUPP turns nowait writes off');
    assert.equal(dev.nowaitStats.writeOn, false);
    assert.equal(dev.writeNow(0, a), true, 'then a plain pwrite in the call');
    assert.deepEqual(readFileSync(path).subarray(0, 8192), Buffer.from(a));
    assert.equal(dev.writeNow(4096, random(512)), false, 'not whole pages');
    assert.equal(dev.writeNow(512, random(4096)), false, 'not page-aligned');
    assert.equal(dev.writeNow(0, random(128 << 10)), false, 'over 64 KiB');
    assert.equal(dev.writeNow(0, a, { fua: true }), false, 'FUA');
    assert.throws(() => dev.writeNow(256 << 10, a), { errno: 'ENOSPC' }, 'range checks as write()');
    const b = random(65536);
    cost = 5; // over 2 ms: done (true), then off for 100 ms
    assert.equal(dev.writeNow(65536, b), true);
    assert.deepEqual(readFileSync(path).subarray(65536, 131072), Buffer.from(b));
    assert.deepEqual({ slow: dev.nowaitStats.syncWritesSlow, backoff: dev.nowaitStats.syncWriteBackoffMs }, { slow: 1, backoff: 100 });
    now += 99;
    assert.equal(dev.writeNow(0, a), false, 'backing off: the thread pool writes');
    now += 10;
    cost = 3;
    assert.equal(dev.writeNow(0, a), true, 'tried again after 100 ms, slow again');
    assert.equal(dev.nowaitStats.syncWriteBackoffMs, 200, 'doubled');
    now += 150;
    assert.equal(dev.writeNow(0, a), false);
    now += 60;
    assert.equal(dev.writeNow(0, a), true, 'after 200 ms, fast');
    assert.equal(dev.nowaitStats.syncWriteBackoffMs, 0, 'reset');
    assert.equal(dev.writeNow(4096, a), true);
    assert.deepEqual({ done: dev.nowaitStats.syncWrites, slow: dev.nowaitStats.syncWritesSlow }, { done: 5, slow: 2 });
    assert.deepEqual(fake.calls, ['write:unsupported'], 'the nowait call is not tried again');
    await dev.flush();
    const back = new Uint8Array(8192);
    await dev.read(4096, back);
    assert.deepEqual(back, a);
  } finally {
    await dev.close();
  }
  assert.equal(dev.writeNow(0, new Uint8Array(4096)), false, 'closed: declines');
  for (const opts of [{ syncWrites: false }, { direct: true }, { nowait: false as const, syncWrites: false }]) {
    const d = await FileDevice.open(path, { nowait: new FakeNowait(['unsupported']), ...opts });
    try {
      d.writeNow(0, new Uint8Array(4096));
      assert.equal(d.writeNow(0, new Uint8Array(4096)), false, JSON.stringify(opts));
      assert.equal(d.nowaitStats.syncWrites, 0);
    } finally {
      await d.close();
    }
  }
  const noAddon = await FileDevice.open(path, { nowait: false });
  try {
    const c = random(4096);
    assert.equal(noAddon.writeNow(8192, c), true, 'no nowait I/O at all: synchronous writes still apply');
    assert.deepEqual(readFileSync(path).subarray(8192, 12288), Buffer.from(c));
  } finally {
    await noAddon.close();
  }
});
