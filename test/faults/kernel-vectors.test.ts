// Replays the dm-flakey / dm-delay tables captured from the real kernel
// (test/vectors/faults/kernel-faults.json, see PROVENANCE.md there) through ucrypt's registry:
// accept/reject, the kernel's log lines, and the table and status output.
//
// ucrypt implements the newest targets (Linux 6.18+/7.x: flakey 1.5.0 with error_reads and
// random_*_corrupt, delay 1.5.0); the capture kernel is Debian's 6.1. Where 6.1 differs, the
// expectation comes from the newest drivers/md/dm-flakey.c instead, listed below with why.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { newRegistry } from '../dm/support.js';

interface Case {
  id: string;
  table: string;
  exit: number;
  stderr: string;
  dmesg: string[];
  tableOut?: string;
  statusOut?: string;
}

const file = fileURLToPath(new URL('../../../test/vectors/faults/kernel-faults.json', import.meta.url));
const vectors = JSON.parse(readFileSync(file, 'utf8')) as { kernelRelease: string; targets: string; cases: Case[] };

const err = (msg: string, errno = 'EINVAL'): Partial<Case> => ({ exit: 1, dmesg: [`device-mapper: table: 254:0: flakey: ${msg} (-${errno})`, 'device-mapper: ioctl: error adding target to table'] });
const NO_FEATURES = 'The newest flakey sets error_reads + error_writes when no feature is given and prints them (6.1 printed "0")';
const NEW_FEATURE = 'error_reads and random_read_corrupt/random_write_corrupt are newer than 6.1 (Linux 6.5/6.6)';

/** Where the newest kernel says something else than the captured 6.1: the newest expectation. */
export const DEVIATIONS: Record<string, { why: string; expect: Partial<Case> }> = {
  'flakey-nofeatures': { why: NO_FEATURES, expect: { tableOut: '0 64 flakey 1:0 0 1 1 2 error_reads error_writes\n' } },
  'flakey-zero-features': { why: NO_FEATURES, expect: { tableOut: '0 64 flakey 1:0 0 1 1 2 error_reads error_writes\n' } },
  'flakey-offset': { why: NO_FEATURES, expect: { tableOut: '0 64 flakey 1:1 16 60 0 2 error_reads error_writes\n' } },
  'flakey-leading-zeros': { why: NO_FEATURES, expect: { tableOut: '0 64 flakey 1:0 0 10 1 2 error_reads error_writes\n' } },
  'flakey-max-up': { why: NO_FEATURES, expect: { tableOut: '0 64 flakey 1:0 0 4294967294 1 2 error_reads error_writes\n' } },
  'flakey-up-wrap': { why: NO_FEATURES, expect: { tableOut: '0 64 flakey 1:0 0 0 1 2 error_reads error_writes\n' } },
  'flakey-error-reads': { why: NEW_FEATURE, expect: { exit: 0, dmesg: [], tableOut: '0 64 flakey 1:0 0 1 1 1 error_reads\n', statusOut: '0 64 flakey \n' } },
  'flakey-error-reads-writes': { why: NEW_FEATURE, expect: { exit: 0, dmesg: [], tableOut: '0 64 flakey 1:0 0 1 1 2 error_reads error_writes\n', statusOut: '0 64 flakey \n' } },
  'flakey-error-writes-reads': { why: NEW_FEATURE, expect: { exit: 0, dmesg: [], tableOut: '0 64 flakey 1:0 0 1 1 2 error_reads error_writes\n', statusOut: '0 64 flakey \n' } },
  'flakey-random-read': { why: NEW_FEATURE, expect: { exit: 0, dmesg: [], tableOut: '0 64 flakey 1:0 0 0 1 2 random_read_corrupt 100000000\n', statusOut: '0 64 flakey \n' } },
  'flakey-random-both': { why: NEW_FEATURE, expect: { exit: 0, dmesg: [], tableOut: '0 64 flakey 1:0 0 0 1 4 random_read_corrupt 1000000000 random_write_corrupt 1\n', statusOut: '0 64 flakey \n' } },
  'flakey-random-zero': { why: `${NEW_FEATURE}; a zero probability sets nothing, so every I/O errors`, expect: { exit: 0, dmesg: [], tableOut: '0 64 flakey 1:0 0 0 1 2 error_reads error_writes\n', statusOut: '0 64 flakey \n' } },
  'flakey-corrupt-random-write': { why: `${NEW_FEATURE}; up to 11 feature args (6.1: 6)`, expect: { exit: 0, dmesg: [], tableOut: '0 64 flakey 1:0 0 1 1 8 error_reads corrupt_bio_byte 3 w 9 2048 random_write_corrupt 7\n', statusOut: '0 64 flakey \n' } },
  'flakey-bad-down': { why: '6.1 checked the down interval with the up interval\'s dm_arg (and its message); fixed since', expect: err('Invalid down interval') },
  'flakey-dup-error-reads': { why: NEW_FEATURE, expect: err('Feature error_reads duplicated') },
  'flakey-corrupt-short': { why: 'the newest checks that corrupt_bio_byte has its 4 parameters first', expect: err('Feature corrupt_bio_byte requires 4 parameters') },
  'flakey-corrupt-dup': { why: 'up to 11 feature args (6.1: 6), and the newest refuses a repeated corrupt_bio_byte', expect: err('Feature corrupt_bio_byte duplicated') },
  'flakey-random-too-big': { why: NEW_FEATURE, expect: err('Invalid random corrupt argument') },
  'flakey-random-missing': { why: NEW_FEATURE, expect: err('Feature random_write_corrupt requires a parameter') },
  'flakey-random-dup': { why: NEW_FEATURE, expect: err('Feature random_read_corrupt duplicated') },
  'flakey-drop-corrupt-w': { why: 'the newest message also names random_write_corrupt', expect: err('drop_writes is incompatible with random_write_corrupt or corrupt_bio_byte with the WRITE flag set') },
  'flakey-error-writes-random-w': { why: NEW_FEATURE, expect: err('error_writes is incompatible with random_write_corrupt or corrupt_bio_byte with the WRITE flag set') },
  'flakey-error-reads-random-r': { why: NEW_FEATURE, expect: err('error_reads is incompatible with random_read_corrupt or corrupt_bio_byte with the READ flag set') },
  'flakey-error-reads-corrupt-r': { why: NEW_FEATURE, expect: err('error_reads is incompatible with random_read_corrupt or corrupt_bio_byte with the READ flag set') },
};

/** 6.1's flakey table ends every field with a space (`DMEMIT("%s ")`); the newest puts separators first. */
function newestTable(c: Case): string | undefined {
  if (c.tableOut === undefined || !c.table.includes(' flakey ')) return c.tableOut;
  return c.tableOut.replace(/ \n$/, '\n');
}

test('kernel fault vectors: the capture is present and covers both targets, valid and invalid', () => {
  assert.ok(vectors.cases.length >= 60);
  for (const t of ['flakey', 'delay']) {
    assert.ok(vectors.cases.some((c) => c.table.includes(` ${t} `) && c.exit === 0));
    assert.ok(vectors.cases.some((c) => c.table.includes(` ${t} `) && c.exit !== 0));
  }
  for (const id of Object.keys(DEVIATIONS)) assert.ok(vectors.cases.some((c) => c.id === id), `deviation ${id} names a captured case`);
});

for (const c of vectors.cases) {
  test(`kernel fault vector ${c.id}: ${c.table}`, async () => {
    const dev = DEVIATIONS[c.id];
    const want = { exit: c.exit, dmesg: c.dmesg, tableOut: newestTable(c), statusOut: c.statusOut, ...dev?.expect };
    const reg = newRegistry();
    const mark = reg.dmesg().length;
    let exit = 0;
    try {
      await reg.create('f', { table: c.table });
    } catch {
      exit = 1;
    }
    const dmesg = reg
      .dmesg()
      .slice(mark)
      .map((l) => l.replace(/^\[[ \d.]+\] /, ''))
      .filter((l) => l.startsWith('device-mapper:'));
    const got: Partial<Case> = { exit, dmesg };
    if (exit === 0) {
      got.tableOut = reg.lines('f', { status: false }).map((l) => `${l}\n`).join('');
      got.statusOut = reg.lines('f', { status: true }).map((l) => `${l}\n`).join('');
      await reg.remove('f');
    }
    assert.deepEqual(got, Object.fromEntries(Object.entries(want).filter(([, v]) => v !== undefined)), dev ? `(deviation from ${vectors.kernelRelease}: ${dev.why})` : undefined);
  });
}
