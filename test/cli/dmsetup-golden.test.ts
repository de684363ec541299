// Replays the real dmsetup's session on Linux (test/vectors/dmsetup/dmsetup-core-golden.json,
// captured in the kernel test harness; see PROVENANCE-dmsetup-core-golden.md) through
// `ucrypt dmsetup` and requires the same stdout, stderr, exit status and kernel log lines.
// The few places where ucrypt deliberately differs are listed in DEVIATIONS with the reason and
// what we print instead; everything else must match byte for byte.

import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, cli, logSince } from '../helpers/cli.js';

interface GoldenRecord {
  readonly note: string;
  readonly cmd: string;
  readonly argv: readonly string[];
  readonly stdin?: string;
  readonly stdout: string;
  readonly stderr: string;
  readonly exit: number;
  readonly dmesg: readonly string[];
}

const golden = JSON.parse(readFileSync(new URL('../../../test/vectors/dmsetup/dmsetup-core-golden.json', import.meta.url), 'utf8')) as GoldenRecord[];

/** Linux 7.1 target versions (ucrypt follows the newer kernel; the capture is 6.1). */
const TARGETS = 'delay            v1.5.0\nflakey           v1.5.0\nzero             v1.2.0\ncrypt            v1.29.0\nlinear           v1.5.0\nerror            v1.7.0\n';

interface Deviation {
  readonly why: string;
  readonly stdout?: string;
  /** Only the first line of stderr is compared (the rest is usage text that is dmsetup's own). */
  readonly stderrFirstLine?: boolean;
}

const DEVIATIONS: Record<string, Deviation> = {
  'dmsetup version': {
    why: 'we are not libdevmapper, and the driver version is the one of Linux 7.1 (4.50.0), not 6.1 (4.47.0)',
    stdout: 'Library version:   ucrypt 0.1.0\nDriver version:    4.50.0\n',
  },
  'dmsetup targets': {
    why: 'target versions of Linux 7.1, and every built-in target is always registered (no on-demand module loading)',
    stdout: TARGETS,
  },
  'dmsetup nosuchverb': { why: 'the usage text after "Unknown command." is our own', stderrFirstLine: true },
};

test('ucrypt dmsetup replays the real dmsetup session byte for byte', async (t) => {
  assert.ok(golden.length >= 100, 'the golden session is present');
  const reg = new Registry();
  reg.modprobeBrd({ rd_nr: 2, rd_size: 8192 });
  for (const [i, rec] of golden.entries()) {
    assert.equal(rec.argv[0], 'dmsetup');
    await t.test(`[${i + 1}] ${rec.cmd}`, async () => {
      const mark = reg.dmesg().length;
      const got = await cli(reg, rec.argv, rec.stdin ?? '');
      const dev = DEVIATIONS[rec.cmd];
      const ctx = `${rec.note}: ${rec.cmd}`;
      assert.equal(got.exit, rec.exit, `exit status of ${ctx}\nstderr: ${got.stderr}`);
      assert.equal(got.stdout, dev?.stdout ?? rec.stdout, `stdout of ${ctx}`);
      if (dev?.stderrFirstLine) assert.equal(got.stderr.split('\n')[0], rec.stderr.split('\n')[0], `stderr of ${ctx}`);
      else assert.equal(got.stderr, rec.stderr, `stderr of ${ctx}`);
      const log = logSince(reg, mark).filter((l) => l.startsWith('device-mapper:'));
      assert.deepEqual(log, rec.dmesg, `kernel log of ${ctx}`);
    });
  }
});
