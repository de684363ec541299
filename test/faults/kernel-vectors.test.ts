// Replays the dm-flakey / dm-delay tables captured from the real kernels through ucrypt's
// registry: accept/reject, the kernel's log lines, and the table and status output; and the
// flakey I/O cases (one 4 KiB read or write while down or up) on a ucrypt RAM disk: whether it
// failed, which bytes changed, what reached the disk.
//
// ucrypt implements the newest targets (Linux 6.18+/7.x: flakey 1.5.0 with error_reads and
// random_*_corrupt, delay 1.5.0). Two captures (PROVENANCE.md, PROVENANCE-6.12.md there):
// Debian's default 6.1 (kernel-faults.json), which lacks the newer flakey features, and Debian's
// 6.12 (kernel-faults-6.12.json, bookworm-security's linux-image-6.12-amd64), which has
// error_reads, random_read_corrupt and random_write_corrupt. Where a kernel differs from the
// newest, the expectation comes from the newest drivers/md/dm-flakey.c instead, listed below
// per kernel with why.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { newRegistry } from '../dm/support.js';
import type { IoCase } from './support.js';
import { cmpList, IO_NEW, IO_OLD, normalizeIo } from './support.js';

interface Case {
  id: string;
  table: string;
  exit: number;
  stderr: string;
  dmesg: string[];
  tableOut?: string;
  statusOut?: string;
}

interface Vectors {
  kernelRelease: string;
  targets: string;
  cases: Case[];
  io?: IoCase[];
}

const load = (name: string): Vectors => JSON.parse(readFileSync(fileURLToPath(new URL(`../../../test/vectors/faults/${name}`, import.meta.url)), 'utf8')) as Vectors;
const v61 = load('kernel-faults.json');
const v612 = load('kernel-faults-6.12.json');

const err = (msg: string, errno = 'EINVAL'): Partial<Case> => ({ exit: 1, dmesg: [`device-mapper: table: 254:0: flakey: ${msg} (-${errno})`, 'device-mapper: ioctl: error adding target to table'] });
const NO_FEATURES = 'The newest flakey sets error_reads + error_writes when no feature is given and prints them (6.1 printed "0")';
const NEW_FEATURE = 'error_reads and random_read_corrupt/random_write_corrupt are newer than 6.1 (Linux 6.5/6.6)';

type Deviations = Record<string, { why: string; expect: Partial<Case> }>;

/** Where the newest kernel says something else than the captured 6.1: the newest expectation. */
const DEVIATIONS_61: Deviations = {
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

// 6.12 has error_reads and random_*_corrupt (and prints tables as the newest); what it still
// lacks is the newest's stricter feature parsing and its "device lookup" errno.
const AFTER_612 = 'the newest parse_features refuses this; 6.12 does not check it yet';
const LOOKUP = '6.12 passes on lookup_bdev\'s -ENOENT for a missing path; ucrypt keeps 6.1\'s -ENODEV for every target (the dmsetup golden vectors are 6.1\'s)';
const DEVIATIONS_612: Deviations = {
  'flakey-bad-down': { why: '6.12 still checks the down interval with the up interval\'s dm_arg (and its message)', expect: err('Invalid down interval') },
  'flakey-corrupt-short': { why: 'the newest checks that corrupt_bio_byte has its 4 parameters first', expect: err('Feature corrupt_bio_byte requires 4 parameters') },
  'flakey-corrupt-dup': { why: `${AFTER_612} (a repeated corrupt_bio_byte)`, expect: err('Feature corrupt_bio_byte duplicated') },
  'flakey-random-dup': { why: `${AFTER_612} (a repeated random_read_corrupt)`, expect: err('Feature random_read_corrupt duplicated') },
  'flakey-drop-corrupt-w': { why: 'the newest message also names random_write_corrupt', expect: err('drop_writes is incompatible with random_write_corrupt or corrupt_bio_byte with the WRITE flag set') },
  'flakey-error-writes-random-w': { why: `${AFTER_612} (error_writes with random_write_corrupt)`, expect: err('error_writes is incompatible with random_write_corrupt or corrupt_bio_byte with the WRITE flag set') },
  'flakey-error-reads-random-r': { why: `${AFTER_612} (error_reads with random_read_corrupt)`, expect: err('error_reads is incompatible with random_read_corrupt or corrupt_bio_byte with the READ flag set') },
  'flakey-error-reads-corrupt-r': { why: `${AFTER_612} (error_reads with a READ corrupt_bio_byte)`, expect: err('error_reads is incompatible with random_read_corrupt or corrupt_bio_byte with the READ flag set') },
  'flakey-no-device': { why: LOOKUP, expect: { dmesg: ['device-mapper: table: 254:0: flakey: Device lookup failed (-ENODEV)', 'device-mapper: ioctl: error adding target to table'] } },
  'delay-no-device': { why: LOOKUP, expect: { dmesg: ['device-mapper: table: 254:0: delay: Device lookup failed (-ENODEV)', 'device-mapper: ioctl: error adding target to table'] } },
  'delay-no-flush-device': { why: LOOKUP, expect: { dmesg: ['device-mapper: table: 254:0: delay: Device lookup failed (-ENODEV)', 'device-mapper: ioctl: error adding target to table'] } },
};

/** I/O cases where a kernel behaves otherwise than the newest: the newest expectation. */
type IoDeviations = Record<string, { why: string; expect: Partial<IoCase> }>;
const IO_DEVIATIONS_612: IoDeviations = {};
/** 6.1 refuses the tables with newer features; the expectation is what 6.12 did with them. */
const IO_DEVIATIONS_61: IoDeviations = Object.fromEntries(
  (v61.io ?? [])
    .filter((c) => c.createExit !== 0 && /error_reads|random_(read|write)_corrupt/.test(c.table))
    .map((c) => {
      const newer = v612.io?.find((n) => n.id === c.id);
      if (!newer) throw new Error(`${c.id}: no 6.12 capture to expect`);
      return [c.id, { why: `${NEW_FEATURE}: expected as Linux ${v612.kernelRelease} did it`, expect: newer }];
    }),
);

/** 6.1's flakey table ends every field with a space (`DMEMIT("%s ")`); the newest puts separators first. */
function newestTable(c: Case): string | undefined {
  if (c.tableOut === undefined || !c.table.includes(' flakey ')) return c.tableOut;
  return c.tableOut.replace(/ \n$/, '\n');
}

const KERNELS: { vectors: Vectors; deviations: Deviations; ioDeviations: IoDeviations }[] = [
  { vectors: v61, deviations: DEVIATIONS_61, ioDeviations: IO_DEVIATIONS_61 },
  { vectors: v612, deviations: DEVIATIONS_612, ioDeviations: IO_DEVIATIONS_612 },
];

test('kernel fault vectors: both captures are present and cover both targets, valid and invalid, and flakey I/O', () => {
  assert.match(v61.kernelRelease, /^6\.1\./);
  assert.match(v612.kernelRelease, /^6\.12\./);
  for (const { vectors, deviations, ioDeviations } of KERNELS) {
    assert.ok(vectors.cases.length >= 60);
    for (const t of ['flakey', 'delay']) {
      assert.ok(vectors.cases.some((c) => c.table.includes(` ${t} `) && c.exit === 0));
      assert.ok(vectors.cases.some((c) => c.table.includes(` ${t} `) && c.exit !== 0));
    }
    for (const id of Object.keys(deviations)) assert.ok(vectors.cases.some((c) => c.id === id), `deviation ${id} names a captured case`);
    assert.ok((vectors.io ?? []).length >= 20, `${vectors.kernelRelease}: I/O cases captured`);
    for (const id of Object.keys(ioDeviations)) assert.ok(vectors.io?.some((c) => c.id === id), `I/O deviation ${id} names a captured case`);
  }
  // 6.12 has the features 6.1 lacked: they were checked against a running kernel, not only the source.
  for (const id of ['flakey-error-reads', 'flakey-random-read', 'flakey-random-both', 'flakey-corrupt-random-write']) {
    assert.equal(v612.cases.find((c) => c.id === id)?.exit, 0, `6.12 accepts ${id}`);
    assert.equal(DEVIATIONS_612[id], undefined, `no deviation from 6.12 for ${id}`);
  }
});

for (const { vectors, deviations } of KERNELS) for (const c of vectors.cases) {
  test(`kernel fault vector ${vectors.kernelRelease} ${c.id}: ${c.table}`, async () => {
    const dev = deviations[c.id];
    const want = { exit: c.exit, dmesg: c.dmesg, tableOut: newestTable(c), statusOut: c.statusOut, ...dev?.expect };
    // A table the newest refuses has no table or status lines, whatever this kernel printed.
    if (want.exit !== 0) Object.assign(want, { tableOut: undefined, statusOut: undefined });
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

/** The I/O case on ucrypt: the same table over a RAM disk holding IO_OLD, one 4 KiB read or write at 0. */
async function replayIo(c: IoCase): Promise<IoCase> {
  const reg = newRegistry();
  await reg.ramDisk(0)!.write(0, IO_OLD);
  const got: IoCase = { id: c.id, op: c.op, table: c.table, createExit: 0 };
  let md;
  try {
    md = await reg.create('f', { table: c.table });
  } catch {
    got.createExit = 1;
    return got;
  }
  if (c.op === 'read') {
    const buf = new Uint8Array(4096);
    try {
      await md.read(0, buf);
      got.ioExit = 0;
      got.diff = cmpList(IO_OLD, buf);
    } catch {
      got.ioExit = 1;
    }
    await reg.remove('f');
    return got;
  }
  try {
    await md.write(0, IO_NEW.slice());
    got.ioExit = 0;
  } catch {
    got.ioExit = 1;
  }
  await reg.remove('f');
  const disk = new Uint8Array(4096);
  await reg.ramDisk(0)!.read(0, disk);
  const same = (a: Uint8Array): boolean => cmpList(a, disk).length === 0;
  got.onDisk = same(IO_NEW) ? 'new' : same(IO_OLD) ? 'old' : 'other';
  if (got.onDisk === 'other') got.diff = cmpList(IO_NEW, disk);
  return got;
}

for (const { vectors, ioDeviations } of KERNELS) for (const c of vectors.io ?? []) {
  test(`kernel flakey I/O ${vectors.kernelRelease} ${c.id}: ${c.op} through ${c.table}`, async () => {
    const dev = ioDeviations[c.id];
    const want = normalizeIo({ ...c, ...dev?.expect });
    const got = normalizeIo(await replayIo(c));
    assert.deepEqual(got, want, dev ? `(deviation from ${vectors.kernelRelease}: ${dev.why})` : undefined);
  });
}
