// The crypt records of the real dmsetup session captured on Linux 6.1
// (test/vectors/dmsetup/dmsetup-golden.json, see PROVENANCE-dmsetup-golden.md): the whole session
// is replayed through `ucrypt dmsetup` (later records depend on earlier ones), and every record
// about crypt (c1, c2, c3, the refused crypt tables and the listings after them) must give the
// same stdout, stderr, exit status and device-mapper kernel lines.
//
// The 6.1 kernel prints dm-crypt's own warnings with a stray `trusted_key: ` prefix (see the
// provenance note), so they are in `dmesgOther` there; they are compared without the prefix.

import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, cli, logSince } from '../../helpers/cli.js';

interface GoldenRecord {
  readonly note: string;
  readonly cmd: string;
  readonly argv: readonly string[];
  readonly stdin?: string;
  readonly stdout: string;
  readonly stderr: string;
  readonly exit: number;
  readonly dmesg: readonly string[];
  readonly dmesgOther?: readonly string[];
}

const golden = JSON.parse(readFileSync(new URL('../../../../test/vectors/dmsetup/dmsetup-golden.json', import.meta.url), 'utf8')) as GoldenRecord[];

const PREFIX = 'trusted_key: ';

/** Whether a record is about the crypt target (not `targets`/`version`, whose versions differ). */
function isCrypt(r: GoldenRecord): boolean {
  if (r.cmd === 'dmsetup targets' || r.cmd === 'dmsetup version') return false;
  return /crypt|\bc[123]\b/.test(`${r.cmd}\n${r.stdin ?? ''}\n${r.note}`);
}

test('the golden session holds the crypt records', () => {
  const crypt = golden.filter(isCrypt);
  assert.ok(crypt.length >= 25, `${crypt.length} crypt records`);
  assert.ok(crypt.some((r) => r.cmd.includes('create c1')));
  assert.ok(crypt.some((r) => r.stdin?.includes('crypt nosuch-xts-plain64')));
});

test('ucrypt dmsetup gives the kernel session output for every crypt record', async (t) => {
  const reg = new Registry();
  reg.modprobeBrd({ rd_nr: 2, rd_size: 8192 });
  for (const [i, rec] of golden.entries()) {
    const mark = reg.dmesg().length;
    const got = await cli(reg, rec.argv, rec.stdin ?? '');
    if (!isCrypt(rec)) continue;
    await t.test(`[${i + 1}] ${rec.cmd}${rec.stdin ? ` < ${rec.stdin.trim().replace(/[0-9a-f]{32,}/g, '<key>')}` : ''}`, () => {
      const ctx = `${rec.note}: ${rec.cmd}`;
      assert.equal(got.exit, rec.exit, `exit status of ${ctx}\nstderr: ${got.stderr}`);
      assert.equal(got.stdout, rec.stdout, `stdout of ${ctx}`);
      assert.equal(got.stderr, rec.stderr, `stderr of ${ctx}`);
      const want = [...rec.dmesg, ...(rec.dmesgOther ?? []).filter((l) => l.startsWith(`${PREFIX}device-mapper:`)).map((l) => l.slice(PREFIX.length))];
      const log = logSince(reg, mark).filter((l) => l.startsWith('device-mapper:'));
      assert.deepEqual([...log].sort(), [...want].sort(), `kernel log of ${ctx}`);
    });
  }
});
