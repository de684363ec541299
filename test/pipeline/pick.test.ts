// The kcryptd pool's choice of worker (KworkerPool.pick): the least loaded, and among idle ones
// an awake one before a sleeping one, as the kernel's pools hand work to the most recently idle
// kworker. At iodepth 1 that keeps requests on the worker still polling its ring after the last
// completion, instead of round-robin waking the other one with a futex every time.
//
// UCRYPT_KCRYPTD_SPIN_US (read when kcryptd.ts loads, hence the dynamic imports) makes a worker
// stay awake, polling, for a known time after its last item, so "awake" is deterministic here.

import { test } from 'node:test';
import assert from 'node:assert/strict';

process.env['UCRYPT_KCRYPTD_SPIN_US'] = '400000';
const { TestDisk, cryptOver, fill } = await import('./support.js');
const { kworkerPool, stopKworkers } = await import('../../src/pipeline/kcryptd.js');

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('pick: an awake idle worker takes the next request; with every worker asleep, round-robin', async () => {
  const disk = new TestDisk(1 << 20);
  const t = await cryptOver(disk, 'aes-xts-plain64', 'default');
  try {
    const pool = kworkerPool(2);
    assert.equal(pool.count, 2);
    // A first write registers its bounce buffer with every worker (a control message wakes
    // both); after 600 ms both have gone back to sleep.
    const data = fill(new Uint8Array(4096), 5);
    await t.write(0, data);
    await delay(600);
    const asleep = [pool.pick(), pool.pick(), pool.pick(), pool.pick()];
    assert.deepEqual(new Set(asleep).size, 2, `all asleep: round-robin (${asleep.join(',')})`);
    await t.write(0, data); // one item: its worker now spins for 400 ms
    const awake = [pool.pick(), pool.pick(), pool.pick(), pool.pick()];
    assert.equal(new Set(awake).size, 1, `the worker that just finished, every time (${awake.join(',')})`);
    const back = new Uint8Array(4096);
    await t.read(0, back);
    assert.deepEqual(back, data);
    await delay(600);
    const later = [pool.pick(), pool.pick()];
    assert.equal(new Set(later).size, 2, `asleep again: round-robin (${later.join(',')})`);
  } finally {
    t.close();
    await stopKworkers();
  }
});
