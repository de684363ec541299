// Suspend, reload and resume with I/O in flight (dm_suspend / do_resume): suspend waits for every
// in-flight I/O, I/O submitted while suspended waits and starts in submission order on resume,
// ahead of anything newer, and nothing is lost across a table swap. The test-gate target
// (./support.ts) records when each I/O reaches the table and lets the test hold or slow it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { failure, gate, logSince, newRegistry, pattern, settle, settlesWithin, SECTOR } from './support.js';
import { targetError } from '../../src/dm/target.js';

const BLOCK = 4096;

test('suspend waits for every in-flight I/O, then flushes and calls postsuspend', async () => {
  const reg = newRegistry();
  const g = gate('wait-inflight');
  const md = await reg.create('slow', { table: '0 2048 test-gate wait-inflight /dev/ram0 0' });
  g.hold();
  const timeline: string[] = [];
  const N = 64;
  const ios: Promise<void>[] = [];
  for (let i = 0; i < N; i++) {
    const p = i % 4 === 3 ? md.read(((i - 1) % 256) * BLOCK, new Uint8Array(BLOCK)) : md.write((i % 256) * BLOCK, pattern(i, BLOCK));
    ios.push(p.then(() => void timeline.push(`io${i}`)));
  }
  await settle();
  assert.equal(g.started.length, N, 'all I/O reached the target');
  assert.equal(g.waitingCount, N);

  const suspended = reg.suspend('slow').then(() => void timeline.push('suspended'));
  await settle();
  assert.equal(md.suspended, true, 'new I/O is held from the moment suspend starts');
  assert.equal(timeline.length, 0, 'suspend does not finish while I/O is in flight');

  g.release(N / 2);
  await settle();
  assert.equal(timeline.length, N / 2);
  assert.ok(!timeline.includes('suspended'), 'not with half of the I/O still in flight');

  g.release();
  await Promise.all([...ios, suspended]);
  assert.equal(timeline.length, N + 1);
  assert.equal(timeline.at(-1), 'suspended', 'suspend completes after every I/O');
  const flushes = g.started.filter((e) => e.op === 'flush');
  assert.equal(flushes.length, 1, 'one flush (lockfs) during suspend');
  assert.equal(g.started.at(-1)?.op, 'flush', 'after all the I/O');
  assert.equal(g.postsuspends, 1);
  assert.equal(reg.info('slow').suspended, true);
  // Every write is on the RAM disk.
  for (let i = 0; i < N; i++) {
    if (i % 4 === 3) continue;
    const got = new Uint8Array(BLOCK);
    reg.ramDisk(0)!.readSync(i * BLOCK, got);
    assert.deepEqual(got, pattern(i, BLOCK), `write ${i}`);
  }
  await reg.resume('slow');
  assert.equal(g.preresumes, 2, 'once for the create, once now');
  assert.equal(md.suspended, false);
});

test('suspend of an idle device completes at once; a second suspend is a no-op', async () => {
  const reg = newRegistry();
  const g = gate('idle');
  await reg.create('idle', { table: '0 64 test-gate idle /dev/ram0 0' });
  await reg.suspend('idle');
  await reg.suspend('idle');
  assert.equal(g.postsuspends, 1);
  assert.equal(reg.info('idle').suspended, true);
});

test('failed I/O does not keep suspend waiting', async () => {
  const reg = newRegistry();
  const g = gate('failing');
  const md = await reg.create('mixed', { table: '0 64 test-gate failing /dev/ram0 0\n64 64 error' });
  g.hold();
  const bad = Array.from({ length: 8 }, (_, i) => md.read(64 * SECTOR + i * SECTOR, new Uint8Array(SECTOR)).then(
    () => 'ok',
    (err: { errno?: string }) => err.errno,
  ));
  const good = md.write(0, pattern(1, BLOCK));
  assert.deepEqual(await Promise.all(bad), Array(8).fill('EIO'));
  const s = reg.suspend('mixed');
  assert.equal(await settlesWithin(s, 20), false, 'waits for the held write');
  g.release();
  await good;
  await s;
});

test('I/O submitted while suspended does not start until resume, then starts in submission order before newer I/O', async () => {
  const reg = newRegistry();
  const g = gate('order');
  const md = await reg.create('ord', { table: '0 2048 test-gate order /dev/ram0 0' });
  await reg.suspend('ord');
  const before = g.started.length;
  const done: number[] = [];
  const ios: Promise<void>[] = [];
  const submit = (i: number, p: Promise<void>): void => {
    ios.push(p.then(() => void done.push(i)));
  };
  // Mixed operations, each at a distinct offset that tags it.
  for (let i = 0; i < 40; i++) {
    const off = i * BLOCK;
    switch (i % 5) {
      case 0:
        submit(i, md.write(off, pattern(i, BLOCK)));
        break;
      case 1:
        submit(i, md.read(off, new Uint8Array(BLOCK)));
        break;
      case 2:
        submit(i, md.writeZeroes(off, BLOCK));
        break;
      case 3:
        submit(i, md.discard(off, BLOCK));
        break;
      default:
        submit(i, md.write(off, pattern(i, BLOCK), { fua: true }));
    }
  }
  submit(1000, md.flush());
  await settle(10);
  assert.equal(g.started.length, before, 'nothing reached the target while suspended');
  assert.equal(md.deferredCount, 41);
  assert.deepEqual(done, []);

  const resumed = reg.resume('ord');
  // Submitted after resume was called: must start after every deferred I/O.
  submit(2000, md.write(100 * BLOCK, pattern(2000, BLOCK)));
  submit(2001, md.read(101 * BLOCK, new Uint8Array(BLOCK)));
  await resumed;
  await Promise.all(ios);
  assert.equal(md.deferredCount, 0);
  const ops = ['write', 'read', 'write-zeroes', 'discard', 'write'];
  const want = [...Array.from({ length: 40 }, (_, i) => `${ops[i % 5]}@${i * BLOCK}`), 'flush@0', `write@${100 * BLOCK}`, `read@${101 * BLOCK}`];
  assert.deepEqual(
    g.started.slice(before).map((e) => `${e.op}@${e.offset}`),
    want,
  );
  assert.equal(done.length, 43, 'every deferred I/O completed');
});

test('I/O submitted between a reload-resume call and the swap starts, in order, on the new table', async () => {
  const reg = newRegistry();
  const g1 = gate('swap-old');
  const g2 = gate('swap-new');
  const md = await reg.create('sw', { table: '0 2048 test-gate swap-old /dev/ram0 0' });
  await reg.suspend('sw');
  const early = [md.write(0, pattern(1, BLOCK)), md.write(BLOCK, pattern(2, BLOCK))];
  await reg.load('sw', '0 2048 test-gate swap-new /dev/ram0 0');
  const resumed = reg.resume('sw');
  const late = [md.write(2 * BLOCK, pattern(3, BLOCK)), md.read(0, new Uint8Array(BLOCK))];
  await resumed;
  const after = md.write(3 * BLOCK, pattern(4, BLOCK));
  await Promise.all([...early, ...late, after]);
  assert.deepEqual(
    g2.started.map((e) => `${e.op}@${e.offset / BLOCK}`),
    ['write@0', 'write@1', 'write@2', 'read@0', 'write@3'],
  );
  assert.equal(g1.started.filter((e) => e.op !== 'flush').length, 0, 'the old table saw none of it');
  assert.deepEqual(g1.violations, []);
  assert.equal(g1.closed, 1, 'the old table was closed');
});

test('no I/O is lost or misdirected across many reload+resume cycles under load', async () => {
  const reg = newRegistry();
  const names = ['load-a', 'load-b', 'load-c'];
  const gates = names.map((n) => gate(n));
  for (const g of gates) g.slow(() => Math.floor(Math.random() * 3));
  // The RAM disk region that every table maps: device sector 0 = ram0 sector 1024.
  const md = await reg.create('busy', { table: `0 2048 test-gate ${names[0]} /dev/ram0 1024` });
  const BLOCKS = 256;
  const writes: Promise<void>[] = [];
  const reads: Promise<void>[] = [];
  let swapChain = Promise.resolve();
  let swaps = 0;
  const written = new Set<number>();
  let submittedWhileSuspended = 0;
  for (let i = 0; i < BLOCKS; i++) {
    if (md.suspended) submittedWhileSuspended++;
    writes.push(
      md.write(i * BLOCK, pattern(i, BLOCK)).then(() => {
        written.add(i);
      }),
    );
    // Re-read a block whose write has completed: it must read back whole.
    const done = [...written];
    const j = done[done.length >> 1];
    if (j !== undefined) {
      const buf = new Uint8Array(BLOCK);
      reads.push(
        md.read(j * BLOCK, buf).then(() => {
          assert.deepEqual(buf, pattern(j, BLOCK), `read of block ${j}`);
        }),
      );
    }
    if (i % 16 === 15) {
      const next = names[(i >> 4) % 3]!;
      // One control operation at a time per device, as dmsetup (and the kernel's suspend_lock) does.
      swapChain = swapChain.then(async () => {
        await reg.load('busy', `0 2048 test-gate ${next} /dev/ram0 1024`);
        await reg.resume('busy');
        swaps++;
      });
      await new Promise((resolve) => setTimeout(resolve, 1));
    } else if (i % 4 === 0) {
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  await Promise.all([...writes, ...reads, swapChain]);
  assert.equal(swaps, BLOCKS / 16);
  assert.ok(submittedWhileSuspended > 0, 'some writes were submitted during a swap');
  assert.equal(written.size, BLOCKS, 'every write completed');
  assert.equal(md.deferredCount, 0);
  assert.equal(md.suspended, false);
  for (const g of gates) {
    assert.deepEqual(g.violations, [], 'no I/O ran on a closed table');
    assert.equal(g.inflight, 0);
  }
  const served = gates.reduce((n, g) => n + g.finished.filter((e) => e.op === 'write').length, 0);
  assert.equal(served, BLOCKS, 'each write ran exactly once');
  const instances = gates.reduce((n, g) => n + g.instances, 0);
  const closed = gates.reduce((n, g) => n + g.closed, 0);
  assert.equal(instances - closed, 1, 'only the live table is open');
  assert.ok(gates.every((g) => g.finished.some((e) => e.op === 'write')), 'every table served writes');
  for (let i = 0; i < BLOCKS; i++) {
    const viaDisk = new Uint8Array(BLOCK);
    reg.ramDisk(0)!.readSync(1024 * SECTOR + i * BLOCK, viaDisk);
    assert.deepEqual(viaDisk, pattern(i, BLOCK), `block ${i} on the RAM disk`);
    const viaDevice = new Uint8Array(BLOCK);
    await md.read(i * BLOCK, viaDevice);
    assert.deepEqual(viaDevice, viaDisk, `block ${i} through the device`);
  }
});

test('tablesPresent: None, INACTIVE, LIVE, LIVE & INACTIVE', async () => {
  const reg = newRegistry();
  const md = await reg.create('t');
  const present = (): string => reg.info('t').tablesPresent;
  assert.equal(present(), 'None');
  await reg.load('t', '0 8 zero');
  assert.equal(present(), 'INACTIVE');
  assert.equal(reg.info('t').targetCount, 0, 'no live targets yet');
  assert.deepEqual(reg.lines('t', { status: false }), []);
  assert.deepEqual(reg.lines('t', { status: false, inactive: true }), ['0 8 zero ']);
  await reg.resume('t');
  assert.equal(present(), 'LIVE');
  assert.equal(md.suspended, false);
  await reg.load('t', '0 16 zero');
  assert.equal(present(), 'LIVE & INACTIVE');
  assert.equal(reg.info('t').size, 8 * SECTOR, 'the live table still defines the size');
  reg.clear('t');
  assert.equal(present(), 'LIVE');
  await reg.load('t', '0 16 error');
  await reg.resume('t');
  assert.equal(present(), 'LIVE');
  assert.deepEqual(reg.lines('t', { status: false }), ['0 16 error ']);
  assert.deepEqual(reg.lines('t', { status: true, inactive: true }), []);
  assert.equal(reg.info('t').size, 16 * SECTOR);
});

test('a loaded table takes effect only on resume; reads go to the live table until then', async () => {
  const reg = newRegistry();
  await reg.ramDisk(0)!.write(0, pattern(9, BLOCK));
  const md = await reg.create('r', { table: '0 8 zero' });
  await reg.load('r', '0 8 linear /dev/ram0 0');
  const buf = new Uint8Array(BLOCK).fill(1);
  await md.read(0, buf);
  assert.ok(buf.every((b) => b === 0), 'still the zero table');
  await reg.resume('r');
  await md.read(0, buf);
  assert.deepEqual(buf, pattern(9, BLOCK));
});

test('resume of an active device without an inactive table is a no-op', async () => {
  const reg = newRegistry();
  const g = gate('noop');
  const md = await reg.create('n', { table: '0 64 test-gate noop /dev/ram0 0' });
  const live = md.live;
  const mark = reg.dmesg().length;
  await reg.resume('n');
  assert.equal(md.live, live, 'same table');
  assert.equal(md.suspended, false);
  assert.equal(g.postsuspends, 0, 'not suspended on the way');
  assert.equal(g.preresumes, 1, 'only the create resumed it');
  assert.equal(g.closed, 0);
  assert.equal(g.started.length, 0, 'not even a flush');
  assert.deepEqual(logSince(reg, mark), []);
  await md.write(0, pattern(1, BLOCK));
});

test('resume of a suspended device without an inactive table keeps its table', async () => {
  const reg = newRegistry();
  const g = gate('keep');
  const md = await reg.create('k', { table: '0 64 test-gate keep /dev/ram0 0' });
  const live = md.live;
  await reg.suspend('k');
  await reg.resume('k');
  assert.equal(md.live, live);
  assert.equal(g.closed, 0);
  assert.equal(g.preresumes, 2);
});

test('the replaced table releases its devices (open counts drop)', async () => {
  const reg = newRegistry();
  const a = await reg.create('a', { table: '0 64 zero' });
  const b = await reg.create('b', { table: '0 64 zero' });
  await reg.create('top', { table: '0 64 linear /dev/mapper/a 0' });
  assert.equal(a.openCount, 1);
  await reg.load('top', '0 64 linear /dev/mapper/b 0');
  assert.equal(a.openCount, 1, 'live table still holds a');
  assert.equal(b.openCount, 1, 'the inactive table holds b');
  assert.equal((await failure(() => reg.remove('b'))).errno, 'EBUSY');
  // Loading again replaces the inactive table and releases what it held.
  await reg.load('top', '0 32 linear /dev/mapper/b 0\n32 32 linear /dev/mapper/b 32');
  assert.equal(b.openCount, 2);
  await reg.load('top', '0 64 linear /dev/mapper/a 0');
  assert.equal(b.openCount, 0);
  assert.equal(a.openCount, 2);
  reg.clear('top');
  assert.equal(a.openCount, 1);
  await reg.load('top', '0 64 linear /dev/mapper/b 0');
  await reg.resume('top');
  assert.equal(a.openCount, 0, 'the old live table let go of a');
  assert.equal(b.openCount, 1);
  assert.deepEqual(reg.deps('top'), [{ key: '254:1', kname: 'dm-1', mapped: 'b' }]);
  await reg.remove('a');
  assert.equal((await failure(() => reg.remove('b'))).errno, 'EBUSY');
  await reg.remove('top');
  assert.equal(b.openCount, 0);
  await reg.remove('b');
});

test('a preresume veto keeps the device suspended, with the new table live and I/O still deferred', async () => {
  const reg = newRegistry();
  const g = gate('veto');
  g.veto = targetError('aborting resume - crypt key is not set.');
  const md = await reg.create('v', { table: '0 8 zero' });
  await reg.load('v', '0 8 test-veto veto');
  const err = await failure(() => reg.resume('v'));
  assert.equal(err.errno, 'EINVAL');
  assert.equal(err.context['ioctl'], 'resume');
  assert.equal(err.context['name'], 'v');
  assert.equal(g.preresumes, 1);
  const info = reg.info('v');
  assert.equal(info.suspended, true);
  assert.equal(info.tablesPresent, 'LIVE', 'the swap happened (as do_resume swaps before dm_resume)');
  assert.deepEqual(reg.lines('v', { status: false }), ['0 8 test-veto ']);
  const pending = md.read(0, new Uint8Array(SECTOR));
  assert.equal(await settlesWithin(pending, 20), false, 'I/O waits');
  assert.equal(md.deferredCount, 1);
  // Still vetoed: still suspended.
  await failure(() => reg.resume('v'));
  assert.equal(md.suspended, true);
  g.veto = undefined;
  await reg.resume('v');
  assert.equal(md.suspended, false);
  await pending;
});

test('a create whose resume is vetoed is reverted (no device, minor freed)', async () => {
  const reg = newRegistry();
  const g = gate('veto-create');
  g.veto = targetError('no key');
  const err = await failure(() => reg.create('vc', { table: '0 8 test-veto veto-create' }));
  assert.equal(err.context['ioctl'], 'resume');
  assert.equal(err.context['devName'], '254:0');
  assert.equal(reg.has('vc'), false);
  assert.equal((await reg.create('next')).minor, 0);
});

test('removing a suspended device fails its deferred I/O with EIO', async () => {
  const reg = newRegistry();
  const md = await reg.create('rm', { table: '0 8 zero' });
  await reg.suspend('rm');
  const pending = [md.read(0, new Uint8Array(SECTOR)), md.write(0, new Uint8Array(SECTOR)), md.flush()];
  await reg.remove('rm');
  for (const p of pending) assert.equal((await failure(() => p)).errno, 'EIO');
});

test('a suspended device answers table, status and info', async () => {
  const reg = newRegistry();
  await reg.create('lin', { table: '0 1024 linear /dev/ram0 2048' });
  await reg.suspend('lin');
  assert.deepEqual(reg.lines('lin', { status: true }), ['0 1024 linear ']);
  assert.deepEqual(reg.lines('lin', { status: false }), ['0 1024 linear 1:0 2048']);
  assert.equal(reg.info('lin').suspended, true);
  await reg.resume('lin');
  assert.equal(reg.info('lin').suspended, false);
});

test('a reload that shrinks the device: deferred I/O past the new end fails, the rest completes', async () => {
  const reg = newRegistry();
  const md = await reg.create('shrink', { table: '0 16 zero' });
  await reg.suspend('shrink');
  const beyond = md.read(8 * SECTOR, new Uint8Array(4096));
  const inside = md.read(0, new Uint8Array(SECTOR));
  await reg.load('shrink', '0 8 zero');
  await reg.resume('shrink');
  assert.equal(md.suspended, false);
  assert.equal(await settlesWithin(inside, 50), true, 'the I/O inside the new size completes');
  assert.equal((await failure(() => beyond)).errno, 'ENOSPC');
});

test('a second suspend while the first still waits for I/O does not return early', async () => {
  const reg = newRegistry();
  const g = gate('double-suspend');
  const md = await reg.create('ds', { table: '0 64 test-gate double-suspend /dev/ram0 0' });
  g.hold();
  const io = md.write(0, pattern(1, BLOCK));
  await settle();
  const first = md.suspend();
  const second = md.suspend();
  assert.equal(await settlesWithin(second, 20), false, 'the device is not quiet yet');
  g.release();
  await Promise.all([io, first, second]);
});

test('a preresume veto is logged as the kernel core logs it', async () => {
  const reg = newRegistry();
  const g = gate('veto-log');
  g.veto = targetError('no key');
  await reg.create('vl');
  await reg.load('vl', '0 8 test-veto veto-log');
  const mark = reg.dmesg().length;
  await failure(() => reg.resume('vl'));
  assert.equal(logSince(reg, mark).at(-1), 'device-mapper: table: 254:0: test-veto: preresume failed, error = -22');
});
