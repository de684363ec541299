// test/vectors/faults/kernel-faults.json must still be what the real kernel says: regenerates it
// in the kernel test harness (test/kernel/capture-faults.sh) and compares case by case.
// Skipped unless UCRYPT_KERNEL_TESTS=1 (scripts/test.sh sets it up as root).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const live = process.env['UCRYPT_KERNEL_TESTS'] === '1';

test('kernel-faults.json matches a fresh capture on the live kernel', { skip: live ? false : 'UCRYPT_KERNEL_TESTS=1 not set (scripts/test.sh sets it up as root)', timeout: 15 * 60_000 }, async () => {
  const out = await mkdtemp(join(tmpdir(), 'ucrypt-faults-'));
  try {
    await new Promise<void>((resolve, reject) => {
      execFile('bash', [join(REPO, 'test/kernel/capture-faults.sh'), out], { env: process.env, maxBuffer: 64 << 20 }, (err, _o, stderr) => (err ? reject(new Error(`capture failed: ${stderr}`)) : resolve()));
    });
    const fresh = JSON.parse(await readFile(join(out, 'kernel-faults.json'), 'utf8')) as { cases: unknown[]; targets: string };
    const committed = JSON.parse(await readFile(join(REPO, 'test/vectors/faults/kernel-faults.json'), 'utf8')) as { cases: unknown[]; targets: string };
    assert.equal(fresh.targets, committed.targets);
    assert.deepEqual(fresh.cases, committed.cases);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
