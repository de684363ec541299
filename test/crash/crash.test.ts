// Crash consistency (issue 7, item 3), bounded for the default run; test/long/crash.ts does the
// same with many more kills. See support.ts and luks-crash.ts for the models.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CRASH_FLAGS, CrashRig, killDaemon } from './support.js';
import { luksKillCli, luksPowerLoss } from './luks-crash.js';

const KILLS = Number(process.env['UCRYPT_CRASH_KILLS'] ?? 5);

test(`file-backed crypt device: ${KILLS} SIGKILLs under pipelined writes lose no FUA or flushed write and leave no garbage`, { timeout: 180_000 }, async () => {
  const root = await mkdtemp(join(tmpdir(), 'ucrypt-crash-'));
  try {
    const image = join(root, 'disk.img');
    await writeFile(image, '');
    await truncate(image, 16 << 20);
    const rig = new CrashRig(join(root, 'run'), image, 16 << 20);
    const lines: string[] = [];
    rig.log = (l) => lines.length < 20 && lines.push(l);
    {
      const { daemon, nbd } = await rig.start([]);
      await rig.initialise(nbd);
      await nbd.close();
      await killDaemon(daemon);
    }
    for (let i = 0; i < KILLS; i++) {
      await rig.round(CRASH_FLAGS[i % CRASH_FLAGS.length]!, 150 + Math.random() * 900);
    }
    await rig.finish();
    const s = rig.stats;
    assert.equal(s.crashes, KILLS);
    assert.deepEqual(lines, [], 'no lost or garbled blocks');
    assert.equal(s.lostWrites, 0);
    assert.equal(s.garbageBlocks, 0);
    assert.ok(s.writesAcked > KILLS * 100, `writes went through (${s.writesAcked})`);
    assert.ok(s.durableChecked > 0, 'some durable versions were checked after a crash');
    console.log(`# crash: ${s.crashes} kills, ${s.writesAcked} writes acknowledged, ${s.flushes} flushes, ${s.blocksVerified} blocks verified (${s.durableChecked} with a durable version), lost ${s.lostWrites}, garbage ${s.garbageBlocks}`);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

for (const version of [1, 2] as const) {
  test(`LUKS${version}: header updates cut by a power loss at random writes (unsynced pages lost in any subset) still open`, { timeout: 120_000 }, async () => {
    const r = await luksPowerLoss(version, 24);
    assert.ok(r.cut > 8, `most updates were cut (${r.cut})`);
  });
}

test('LUKS2: the real luksAddKey killed with SIGKILL at random moments leaves a header that opens', { timeout: 120_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ucrypt-luks-kill-'));
  try {
    const r = await luksKillCli(dir, 2, 6);
    assert.equal(r.cut + r.completed, 6);
    console.log(`# luksAddKey kills: ${r.killedBeforeEnd} killed mid-way, ${r.completed} completed`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
