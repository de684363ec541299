// Load (issue 7, item 4): 66 NBD connections, pipelined random verified I/O on a crypt device per
// pipeline mode, while the devices are reloaded, suspended and resumed underneath, with slow and
// dead clients about; memory stays bounded and nobody stalls. test/long/crash.ts scales it up.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoad } from './support.js';

const SECONDS = Number(process.env['UCRYPT_LOAD_SECONDS'] ?? 20);

test(`66 connections x iodepth 8 for ${SECONDS} s across every pipeline mode with suspend/reload/resume underneath`, { timeout: 180_000 }, async () => {
  const root = await mkdtemp(join(tmpdir(), 'ucrypt-load-'));
  try {
    const s = await runLoad(join(root, 'run'), { connections: 66, seconds: SECONDS, depth: 8, deviceMiB: 64, churnMs: 100 });
    console.log(`# load: ${JSON.stringify(s)}`);
    assert.deepEqual(s.errors, []);
    assert.equal(s.mismatches, 0, 'every read matched what was written');
    assert.equal(s.connections, 66);
    assert.ok(s.iosVerified > 1000, `reads were verified (${s.iosVerified})`);
    assert.ok(s.cycles >= 5, `devices were suspended and resumed underneath (${s.cycles} cycles)`);
    assert.ok(s.minLateOps > 0, 'every connection still made progress in the last quarter (no stall behind slow or dead clients)');
    assert.ok(s.deadClients > 0);
    assert.ok(s.removed, 'every device could be removed afterwards: no hold left by dead clients');
    // Bound: 3 x 64 MiB of RAM disk, the slow readers' 64 MiB of unsent replies each, 66
    // connections' buffers, the worker pools (test/long/crash.ts prints the series over a long run).
    assert.ok(s.rssPeakMiB < 1536, `daemon RSS peak ${s.rssPeakMiB} MiB`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

// Table swaps under I/O keep no memory: each destroyed crypt target unregisters its bounce
// buffers from the shared kcryptd pool (before ad8ebf8 every reload/suspend/resume cycle kept
// about 10 MiB).
test('RSS levels off while tables are swapped under I/O', { timeout: 120_000 }, async () => {
  const root = await mkdtemp(join(tmpdir(), 'ucrypt-load-'));
  try {
    const s = await runLoad(join(root, 'run'), { connections: 24, seconds: 10, depth: 8, deviceMiB: 32, churnMs: 50, slowReaders: false, deadClients: false });
    console.log(`# table churn: ${s.cycles} cycles, RSS per second ${s.rssSeriesMiB.join(' ')} MiB`);
    assert.deepEqual(s.errors, []);
    assert.equal(s.mismatches, 0);
    assert.ok(s.cycles >= 10, `tables were swapped (${s.cycles} cycles)`);
    const quarter = s.rssSeriesMiB[Math.floor(s.rssSeriesMiB.length / 4)]!;
    const last = s.rssSeriesMiB.at(-1)!;
    assert.ok(last - quarter < 96, `RSS grew from ${quarter} to ${last} MiB over ${s.cycles} cycles`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
