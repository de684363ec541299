// test/vectors/faults/kernel-faults.json must still be what the real kernel says: regenerates it
// in the kernel test harness (test/kernel/capture-faults.sh) and compares case by case, the
// flakey I/O cases with random corruption compared by count (normalizeIo).
// Skipped unless UCRYPT_KERNEL_TESTS=1 (scripts/test.sh sets it up as root). With
// UCRYPT_KERNEL=6.12 it boots Debian's 6.12 instead and checks kernel-faults-6.12.json (on demand:
// CI boots the default kernel only).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IoCase } from './support.js';
import { normalizeIo } from './support.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const live = process.env['UCRYPT_KERNEL_TESTS'] === '1';
const series = process.env['UCRYPT_KERNEL'] ?? '';
const FILE = `kernel-faults${series ? `-${series}` : ''}.json`;

test(`${FILE} matches a fresh capture on the live kernel`, { skip: live ? false : 'UCRYPT_KERNEL_TESTS=1 not set (scripts/test.sh sets it up as root)', timeout: 15 * 60_000 }, async () => {
  const out = await mkdtemp(join(tmpdir(), 'ucrypt-faults-'));
  try {
    await new Promise<void>((resolve, reject) => {
      execFile('bash', [join(REPO, 'test/kernel/capture-faults.sh'), out], { env: process.env, maxBuffer: 64 << 20 }, (err, _o, stderr) => (err ? reject(new Error(`capture failed: ${stderr}`)) : resolve()));
    });
    type Vectors = { cases: unknown[]; targets: string; io?: IoCase[] };
    const fresh = JSON.parse(await readFile(join(out, FILE), 'utf8')) as Vectors;
    const committed = JSON.parse(await readFile(join(REPO, 'test/vectors/faults', FILE), 'utf8')) as Vectors;
    assert.equal(fresh.targets, committed.targets);
    assert.deepEqual(fresh.cases, committed.cases);
    assert.deepEqual((fresh.io ?? []).map(normalizeIo), (committed.io ?? []).map(normalizeIo));
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
