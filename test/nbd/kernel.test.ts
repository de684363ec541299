// The Linux kernel's NBD client (nbd-client + /dev/nbd0 in the QEMU harness) against the
// daemon's TCP listener: mkfs, mount, write, unmount, remount, compare; then the host reads the
// same files' blocks back through the export (nbdcopy) and checks the filesystem (fsck -fn).
// Needs the harness: UCRYPT_KERNEL_TESTS=1 (scripts/test.sh sets it up as root).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanupRuntime, tempRuntime, ucrypt } from '../helpers/proc.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const live = process.env['UCRYPT_KERNEL_TESTS'] === '1';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, maxBuffer: 64 << 20, timeout: 600_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

test('kernel nbd-client: mkfs, mount, write, unmount, remount, compare', { skip: live ? false : 'UCRYPT_KERNEL_TESTS=1 not set (scripts/test.sh sets the kernel harness up as root)', timeout: 15 * 60_000 }, async () => {
  const dir = await tempRuntime();
  const shared = await mkdtemp(join(tmpdir(), 'ucrypt-nbd-kernel-'));
  try {
    const port = await freePort();
    const bg = await ucrypt(dir, ['daemon', '--background', '--listen', `tcp:127.0.0.1:${port}`]);
    assert.equal(bg.exit, 0, bg.stderr);
    for (const args of [['modprobe', 'brd', 'rd_nr=1', 'rd_size=65536'], ['dmsetup', 'create', 'knbd', '--table', '0 65536 linear /dev/ram0 32768']]) {
      const x = await ucrypt(dir, args);
      assert.equal(x.exit, 0, `ucrypt ${args.join(' ')}: ${x.stderr}`);
    }
    const r = await run('bash', [join(REPO, 'test/kernel/run.sh'), join(REPO, 'test/kernel/jobs/nbd-client.sh'), shared], {
      ...process.env, UCRYPT_KERNEL_GUESTFWD: String(port), UCRYPT_JOB_PORT: String(port), UCRYPT_JOB_EXPORT: 'knbd',
    });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /nbd kernel client: ok/);
    assert.match(r.out, /size: 65536 sectors/);
    assert.ok(existsSync(join(shared, 'sums')));
    assert.equal((await readFile(join(shared, 'sums'), 'utf8')).trim().split('\n').length, 16);
    // The filesystem the kernel wrote is clean when checked from the host through the export.
    if (existsSync('/usr/bin/nbdcopy') && existsSync('/usr/sbin/fsck.ext4')) {
      const img = join(shared, 'fs.img');
      const uri = (await ucrypt(dir, ['nbd-uri', 'knbd'])).stdout.trim();
      assert.equal((await run('nbdcopy', [uri, img])).code, 0);
      const fsck = await run('fsck.ext4', ['-fn', img]);
      assert.equal(fsck.code, 0, fsck.out);
    }
  } finally {
    await ucrypt(dir, ['daemon', '--stop']);
    await cleanupRuntime(dir);
    await rm(shared, { recursive: true, force: true });
  }
});
