// The committed dmsetup vectors must still be what the real kernel says: this regenerates the
// core session in the kernel test harness and compares it record by record. It needs the
// harness (scripts/test.sh sets it up as root and sets UCRYPT_KERNEL_TESTS=1).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const live = process.env['UCRYPT_KERNEL_TESTS'] === '1';

interface Rec {
  cmd: string;
  stdout: string;
  stderr: string;
  exit: number;
  dmesg: string[];
}

test('dmsetup-core-golden.json matches a fresh capture on the live kernel', { skip: live ? false : 'UCRYPT_KERNEL_TESTS=1 not set (scripts/test.sh sets it up as root)', timeout: 15 * 60_000 }, async () => {
  const out = await mkdtemp(join(tmpdir(), 'ucrypt-golden-'));
  try {
    await new Promise<void>((resolve, reject) => {
      execFile('bash', [join(REPO, 'test/kernel/capture-dmsetup.sh'), out], { env: { ...process.env, UCRYPT_JOB_CRYPT: '0' }, maxBuffer: 64 << 20 }, (err, _stdout, stderr) => (err ? reject(new Error(`capture failed: ${stderr}`)) : resolve()));
    });
    const fresh = JSON.parse(await readFile(join(out, 'dmsetup-core-golden.json'), 'utf8')) as Rec[];
    const committed = JSON.parse(await readFile(join(REPO, 'test/vectors/dmsetup/dmsetup-core-golden.json'), 'utf8')) as Rec[];
    assert.equal(fresh.length, committed.length);
    for (const [i, c] of committed.entries()) {
      const f = fresh[i]!;
      assert.deepEqual({ cmd: f.cmd, stdout: f.stdout, stderr: f.stderr, exit: f.exit, dmesg: f.dmesg }, { cmd: c.cmd, stdout: c.stdout, stderr: c.stderr, exit: c.exit, dmesg: c.dmesg }, `record ${i + 1}: ${c.cmd}`);
    }
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
