// The delay target against the kernel's semantics (drivers/md/dm-delay.c, 1.5.0): per-class
// delays on an injected clock, status info counts, table lines, constructor errors, suspend.

import { test, afterEach, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { getTargetType } from '../../src/dm/target.js';
import { setFaultClock } from '../../src/targets/flakey/fault-env.js';
import { failure, logSince, newRegistry, pattern, SECTOR, settle } from '../dm/support.js';
import { FakeClock } from './support.js';

let clock: FakeClock;
beforeEach(() => {
  clock = new FakeClock();
  setFaultClock(clock);
});
afterEach(() => setFaultClock(undefined));

function tracked(p: Promise<unknown>): { done: () => boolean; p: Promise<unknown> } {
  let done = false;
  const q = p.then(() => (done = true));
  return { done: () => done, p: q };
}

test('delay: registered as version 1.5.0', () => {
  newRegistry();
  assert.deepEqual(getTargetType('delay')?.version, [1, 5, 0]);
});

test('delay: 3 arguments delay reads, writes and flushes alike; status info counts what is held', async () => {
  const reg = newRegistry();
  const md = await reg.create('d', { table: '0 64 delay /dev/ram0 16 100' });
  assert.equal(reg.lines('d', { status: false }).join(''), '0 64 delay 1:0 16 100');
  const data = pattern(1, 1024);
  const w = tracked(md.write(0, data));
  await settle();
  assert.equal(reg.lines('d', { status: true }).join(''), '0 64 delay 0 1 0');
  clock.advance(99);
  await settle();
  assert.equal(w.done(), false);
  clock.advance(1);
  await w.p;
  const raw = new Uint8Array(1024);
  await reg.ramDisk(0)!.read(16 * SECTOR, raw);
  assert.deepEqual(raw, data);
  const r = tracked(md.read(0, new Uint8Array(512)));
  const f = tracked(md.flush());
  await settle();
  assert.equal(reg.lines('d', { status: true }).join(''), '0 64 delay 1 0 1');
  clock.advance(100);
  await Promise.all([r.p, f.p]);
  assert.equal(reg.lines('d', { status: true }).join(''), '0 64 delay 0 0 0');
});

test('delay: 6 arguments send writes (and flushes) to the second device with their own delay', async () => {
  const reg = newRegistry();
  const md = await reg.create('d', { table: '0 64 delay /dev/ram0 0 0 /dev/ram1 8 50' });
  assert.equal(reg.lines('d', { status: false }).join(''), '0 64 delay 1:0 0 0 1:1 8 50');
  await md.read(0, new Uint8Array(512)); // read delay 0: immediate
  const data = pattern(2, 512);
  const w = tracked(md.write(0, data));
  await settle();
  assert.equal(w.done(), false);
  clock.advance(50);
  await w.p;
  const raw = new Uint8Array(512);
  await reg.ramDisk(1)!.read(8 * SECTOR, raw);
  assert.deepEqual(raw, data);
  const f = tracked(md.flush());
  await settle();
  assert.equal(reg.lines('d', { status: true }).join(''), '0 64 delay 0 0 1');
  clock.advance(50);
  await f.p;
});

test('delay: 9 arguments give flushes their own class', async () => {
  const reg = newRegistry();
  const md = await reg.create('d', { table: '0 64 delay /dev/ram0 0 10 /dev/ram0 0 20 /dev/ram1 0 30' });
  assert.equal(reg.lines('d', { status: false }).join(''), '0 64 delay 1:0 0 10 1:0 0 20 1:1 0 30');
  const f = tracked(md.flush());
  const w = tracked(md.write(0, new Uint8Array(512)));
  const r = tracked(md.read(0, new Uint8Array(512)));
  await settle();
  assert.equal(reg.lines('d', { status: true }).join(''), '0 64 delay 1 1 1');
  clock.advance(10);
  await r.p;
  await settle();
  assert.equal(w.done() || f.done(), false);
  clock.advance(10);
  await w.p;
  await settle();
  assert.equal(f.done(), false);
  clock.advance(10);
  await f.p;
});

test('delay: suspend releases what is held and delays nothing until resume', async () => {
  const reg = newRegistry();
  const md = await reg.create('d', { table: '0 64 delay /dev/ram0 0 1000' });
  const w = tracked(md.write(0, new Uint8Array(512)));
  await settle();
  // delay_presuspend releases held I/O before dm_suspend drains, and the flush that follows is
  // not delayed: the suspend completes without the clock moving at all.
  const s = tracked(reg.suspend('d'));
  await settle();
  assert.equal(w.done(), true, 'the held write was released by presuspend');
  await w.p;
  await s.p;
  await reg.resume('d');
  const r = tracked(md.read(0, new Uint8Array(512)));
  await settle();
  assert.equal(r.done(), false, 'delays again after resume');
  clock.advance(1000);
  await r.p;
});

const CTR_ERRORS: [string, string][] = [
  ['/dev/ram0 0', 'Requires exactly 3, 6 or 9 arguments'],
  ['/dev/ram0 0 1 /dev/ram1', 'Requires exactly 3, 6 or 9 arguments'],
  ['/dev/ram0 x 1', 'Invalid device sector'],
  ['/dev/ram0 0 -1', 'Invalid delay'],
  ['/dev/ram0 0 1ms', 'Invalid delay'],
  ['/dev/nosuch 0 1', 'Device lookup failed'],
  ['/dev/ram0 0 1 /dev/ram1 y 1', 'Invalid device sector'],
  ['/dev/ram0 0 1 /dev/ram1 0 z', 'Invalid delay'],
  ['/dev/ram0 0 1 /dev/ram1 0 1 /dev/nosuch 0 1', 'Device lookup failed'],
];

test('delay: constructor errors carry the kernel texts', async () => {
  const reg = newRegistry();
  for (const [args, message] of CTR_ERRORS) {
    const mark = reg.dmesg().length;
    await failure(() => reg.create('bad', { table: `0 64 delay ${args}` }));
    const log = logSince(reg, mark);
    assert.ok(log.some((l) => l.endsWith(`delay: ${message} (-${message === 'Device lookup failed' ? 'ENODEV' : 'EINVAL'})`)), `${args}: ${log.join(' | ')}`);
  }
});
