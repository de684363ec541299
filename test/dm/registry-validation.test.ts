// Table validation in the registry (dm-table.c dm_table_add_target / dm_table_complete and the
// target constructors), with the kernel's log lines as Linux 6.1 printed them in the golden
// capture (test/vectors/dmsetup/dmsetup-core-golden.json).

import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Registry } from '../../src/dm/registry.js';
import { failure, gate, logSince, newRegistry } from './support.js';

interface GoldenRecord {
  readonly note: string;
  readonly argv: readonly string[];
  readonly stdin?: string;
  readonly stderr: string;
  readonly exit: number;
  readonly dmesg: readonly string[];
}

const golden = JSON.parse(readFileSync(new URL('../../../test/vectors/dmsetup/dmsetup-core-golden.json', import.meta.url), 'utf8')) as GoldenRecord[];

/** A registry whose next free dm minor is 3, as in the golden session (lin, multi, stacked). */
async function registryAtMinor3(): Promise<Registry> {
  const reg = newRegistry();
  await reg.create('lin', { table: '0 1024 linear /dev/ram0 2048' });
  await reg.create('multi', { table: '0 100 linear /dev/ram1 0\n100 50 zero\n150 10 error\n' });
  await reg.create('stacked', { table: '0 512 linear /dev/mapper/lin 0' });
  return reg;
}

/** Creates `bad` with `table`, expecting failure; returns the error and the log lines it printed. */
async function badCreate(reg: Registry, table: string): Promise<{ err: Awaited<ReturnType<typeof failure>>; log: string[] }> {
  const mark = reg.dmesg().length;
  const err = await failure(() => reg.create('bad', { table }));
  return { err, log: logSince(reg, mark) };
}

const ERRNO_OF_STRERROR: Record<string, string> = { 'Invalid argument': 'EINVAL', 'No such device': 'ENODEV' };

test('every failing create of the golden session logs the kernel lines and fails with its errno', async (t) => {
  const cases = golden.filter((r) => r.argv[1] === 'create' && r.exit !== 0 && r.dmesg.length > 0);
  assert.ok(cases.length >= 10, 'the golden session has the bad-table cases');
  const reg = await registryAtMinor3();
  for (const rec of cases) {
    const ti = rec.argv.indexOf('--table');
    const table = ti >= 0 ? rec.argv[ti + 1]! : rec.stdin!;
    await t.test(rec.note, async () => {
      const { err, log } = await badCreate(reg, table);
      assert.deepEqual(log, rec.dmesg);
      const strerror = /failed: (.*)\n/.exec(rec.stderr)?.[1] ?? '';
      assert.equal(err.errno, ERRNO_OF_STRERROR[strerror], `errno for "${strerror}"`);
      assert.equal(err.context['ioctl'], 'reload');
      assert.equal(err.context['name'], 'bad');
      assert.equal(err.context['devName'], '254:3');
      assert.equal(reg.has('bad'), false, 'a failed create leaves no device');
    });
  }
  assert.deepEqual(
    reg.list().map((md) => md.name),
    ['lin', 'multi', 'stacked'],
  );
});

test('gap between targets', async () => {
  const reg = newRegistry();
  const { err, log } = await badCreate(reg, '0 100 linear /dev/ram0 0\n200 100 zero\n');
  assert.deepEqual(log, ['device-mapper: table: 254:0: zero: Gap in table (-EINVAL)', 'device-mapper: ioctl: error adding target to table']);
  assert.equal(err.errno, 'EINVAL');
  assert.equal(err.context['ioctl'], 'reload');
  assert.equal(err.context['devName'], '254:0');
});

test('overlapping targets are reported as a gap', async () => {
  const reg = newRegistry();
  const { log } = await badCreate(reg, '0 100 zero\n50 100 zero\n');
  assert.deepEqual(log, ['device-mapper: table: 254:0: zero: Gap in table (-EINVAL)', 'device-mapper: ioctl: error adding target to table']);
});

test('a table not starting at sector 0 is reported as a gap', async () => {
  const reg = newRegistry();
  const { log } = await badCreate(reg, '10 100 zero\n');
  assert.deepEqual(log, ['device-mapper: table: 254:0: zero: Gap in table (-EINVAL)', 'device-mapper: ioctl: error adding target to table']);
});

test('the gap is named by the type of the target after it', async () => {
  const reg = newRegistry();
  const { log } = await badCreate(reg, '0 8 zero\n8 8 error\n17 8 linear /dev/ram0 0\n');
  assert.equal(log[0], 'device-mapper: table: 254:0: linear: Gap in table (-EINVAL)');
});

test('zero-length target (no errno in the line)', async () => {
  const reg = newRegistry();
  const { err, log } = await badCreate(reg, '0 0 zero\n');
  assert.deepEqual(log, ['device-mapper: table: 254:0: zero-length target', 'device-mapper: ioctl: error adding target to table']);
  assert.equal(err.errno, 'EINVAL');
});

test('zero length is checked before the target type', async () => {
  const reg = newRegistry();
  const { log } = await badCreate(reg, '0 0 nosuch\n');
  assert.equal(log[0], 'device-mapper: table: 254:0: zero-length target');
});

test('unknown target type', async () => {
  const reg = newRegistry();
  const { err, log } = await badCreate(reg, '0 100 nosuch\n');
  assert.deepEqual(log, ['device-mapper: table: 254:0: nosuch: unknown target type', 'device-mapper: ioctl: error adding target to table']);
  assert.equal(err.errno, 'EINVAL');
});

test('linear: wrong argument count', async () => {
  const reg = newRegistry();
  for (const args of ['/dev/ram0', '', '/dev/ram0 0 extra']) {
    const { err, log } = await badCreate(reg, `0 100 linear ${args}`);
    assert.deepEqual(log, ['device-mapper: table: 254:0: linear: Invalid argument count (-EINVAL)', 'device-mapper: ioctl: error adding target to table'], args);
    assert.equal(err.errno, 'EINVAL');
  }
});

test('linear: bad device sector', async () => {
  const reg = newRegistry();
  for (const sector of ['abc', '-1', '1.5', '0x10']) {
    const { log } = await badCreate(reg, `0 100 linear /dev/ram0 ${sector}`);
    assert.deepEqual(log, ['device-mapper: table: 254:0: linear: Invalid device sector (-EINVAL)', 'device-mapper: ioctl: error adding target to table'], sector);
  }
});

test('linear: missing device fails with ENODEV', async () => {
  const reg = newRegistry();
  for (const dev of ['/dev/nosuch', '/dev/ram7', '/dev/mapper/nosuch', '/dev/dm-9', '254:9', '1:5', '/nonexistent/file.img']) {
    const { err, log } = await badCreate(reg, `0 100 linear ${dev} 0`);
    assert.deepEqual(log, ['device-mapper: table: 254:0: linear: Device lookup failed (-ENODEV)', 'device-mapper: ioctl: error adding target to table'], dev);
    assert.equal(err.errno, 'ENODEV', dev);
    assert.equal(err.context['ioctl'], 'reload');
  }
});

test('linear: device too small (dm_table_complete, three log lines)', async () => {
  const reg = newRegistry();
  const { err, log } = await badCreate(reg, '0 20000 linear /dev/ram0 0\n');
  assert.deepEqual(log, [
    'device-mapper: table: 254:0: ram0 too small for target: start=0, len=20000, dev_size=16384',
    'device-mapper: core: Cannot calculate initial queue limits',
    'device-mapper: ioctl: unable to set up device queue for new table.',
  ]);
  assert.equal(err.errno, 'EINVAL');
});

test('linear: an area past the end through its offset is too small as well', async () => {
  const reg = newRegistry();
  const { log } = await badCreate(reg, '0 100 linear /dev/ram1 16300\n');
  assert.equal(log[0], 'device-mapper: table: 254:0: ram1 too small for target: start=16300, len=100, dev_size=16384');
  // Exactly up to the end is fine.
  await reg.create('edge', { table: '0 84 linear /dev/ram1 16300' });
  assert.equal(reg.info('edge').size, 84 * 512);
});

test('zero: no arguments accepted', async () => {
  const reg = newRegistry();
  const { err, log } = await badCreate(reg, '0 100 zero 5\n');
  assert.deepEqual(log, ['device-mapper: table: 254:0: zero: No arguments required (-EINVAL)', 'device-mapper: ioctl: error adding target to table']);
  assert.equal(err.errno, 'EINVAL');
});

test('error: arguments are accepted and ignored', async () => {
  const reg = newRegistry();
  const mark = reg.dmesg().length;
  await reg.create('bad', { table: '0 100 error 5\n' });
  assert.deepEqual(logSince(reg, mark), []);
  assert.deepEqual(reg.lines('bad', { status: false }), ['0 100 error ']);
  assert.equal(reg.info('bad').minor, 0);
});

test('the first failing line stops the build; later lines are not looked at', async () => {
  const reg = newRegistry();
  const { log } = await badCreate(reg, '0 8 nosuch\n0 0 zero\n');
  assert.deepEqual(log, ['device-mapper: table: 254:0: nosuch: unknown target type', 'device-mapper: ioctl: error adding target to table']);
});

test('a failed create leaves no device and frees its minor', async () => {
  const reg = newRegistry();
  await reg.create('a', { table: '0 8 zero' });
  const { err } = await badCreate(reg, '0 8 zero\n8 8 nosuch');
  assert.equal(err.context['devName'], '254:1');
  assert.equal(reg.has('bad'), false);
  await assert.rejects(
    async () => reg.info('bad'),
    (e: unknown) => (e as { errno: string }).errno === 'ENXIO',
  );
  const b = await reg.create('b', { table: '0 8 zero' });
  assert.equal(b.minor, 1, 'the minor of the failed create is reused');
});

test('a failed create releases the devices its good lines had opened', async () => {
  const reg = newRegistry();
  await badCreate(reg, '0 8 linear /dev/ram0 0\n8 8 linear /dev/ram1 0\n16 8 nosuch');
  // Nothing holds the RAM disks any more, so brd can be unloaded.
  reg.rmmodBrd();
  assert.equal(reg.brdLoaded, false);
});

test('a failed create over a mapped device leaves its open count unchanged', async () => {
  const reg = newRegistry();
  const lower = await reg.create('lower', { table: '0 64 zero' });
  await badCreate(reg, '0 8 linear /dev/mapper/lower 0\n8 8 linear /dev/mapper/lower 80');
  assert.equal(lower.openCount, 0);
  await reg.remove('lower');
});

test('a table line naming the device itself is refused', async () => {
  const reg = newRegistry();
  await reg.create('self');
  const mark = reg.dmesg().length;
  const err = await failure(() => reg.load('self', '0 8 linear /dev/mapper/self 0'));
  assert.equal(err.errno, 'EINVAL');
  assert.equal(logSince(reg, mark)[0], 'device-mapper: table: 254:0: linear: Device lookup failed (-EINVAL)');
});

test('reload with a bad table: ioctl reload, no device number in the context, live table kept', async () => {
  const reg = newRegistry();
  await reg.create('lin', { table: '0 1024 linear /dev/ram0 2048' });
  const mark = reg.dmesg().length;
  const err = await failure(() => reg.load('lin', '0 100 linear /dev/ram0'));
  assert.deepEqual(logSince(reg, mark), ['device-mapper: table: 254:0: linear: Invalid argument count (-EINVAL)', 'device-mapper: ioctl: error adding target to table']);
  assert.equal(err.errno, 'EINVAL');
  assert.equal(err.context['ioctl'], 'reload');
  assert.equal(err.context['name'], 'lin');
  assert.equal(err.context['devName'], undefined);
  const info = reg.info('lin');
  assert.equal(info.tablesPresent, 'LIVE');
  assert.equal(info.suspended, false);
  assert.deepEqual(reg.lines('lin', { status: false }), ['0 1024 linear 1:0 2048']);
});

test('a failed reload keeps an inactive table loaded earlier', async () => {
  const reg = newRegistry();
  await reg.create('d', { table: '0 8 zero' });
  await reg.load('d', '0 16 zero');
  await failure(() => reg.load('d', '0 16 nosuch'));
  assert.equal(reg.info('d').tablesPresent, 'LIVE & INACTIVE');
  assert.deepEqual(reg.lines('d', { status: false, inactive: true }), ['0 16 zero ']);
});

test('a table given as parsed lines is validated the same way', async () => {
  const reg = newRegistry();
  const mark = reg.dmesg().length;
  const err = await failure(() => reg.create('bad', { table: [{ start: 5, length: 8, type: 'zero', params: '' }] }));
  assert.equal(err.errno, 'EINVAL');
  assert.equal(logSince(reg, mark)[0], 'device-mapper: table: 254:0: zero: Gap in table (-EINVAL)');
});

test('a malformed table text fails before any device is created', async () => {
  const reg = newRegistry();
  const mark = reg.dmesg().length;
  const err = await failure(() => reg.create('bad', { table: 'abc def\n' }));
  assert.equal(err.code, 'ERR_TABLE_SYNTAX');
  assert.equal(err.message, 'Invalid format on line 1 of table on stdin.');
  assert.equal(reg.has('bad'), false);
  assert.deepEqual(logSince(reg, mark), []);
});

test('create refusals: duplicate name (EBUSY), duplicate uuid (EBUSY), invalid names (EINVAL)', async () => {
  const reg = newRegistry();
  await reg.create('lin', { uuid: 'UCRYPT-TEST-0001', table: '0 8 zero' });
  let err = await failure(() => reg.create('lin', { table: '0 10 zero' }));
  assert.equal(err.errno, 'EBUSY');
  assert.equal(err.context['ioctl'], 'create');
  assert.equal(err.context['name'], 'lin');
  err = await failure(() => reg.create('other', { uuid: 'UCRYPT-TEST-0001' }));
  assert.equal(err.errno, 'EBUSY');
  assert.equal(err.context['ioctl'], 'create');
  assert.equal(reg.has('other'), false);
  for (const name of ['', 'a/b', '.', '..', 'x'.repeat(128)]) {
    err = await failure(() => reg.create(name));
    assert.equal(err.errno, 'EINVAL', JSON.stringify(name));
    assert.equal(err.context['ioctl'], 'create');
  }
  await reg.create('x'.repeat(127));
  assert.deepEqual(
    reg.list().map((m) => m.minor),
    [0, 1],
  );
});

test('operations on a device that does not exist fail with ENXIO naming the ioctl', async () => {
  const reg = newRegistry();
  const ops: [string, () => unknown][] = [
    ['reload', () => reg.load('nosuch', '0 8 zero')],
    ['resume', () => reg.resume('nosuch')],
    ['suspend', () => reg.suspend('nosuch')],
    ['remove', () => reg.remove('nosuch')],
    ['message', () => reg.message('nosuch', 0, ['x'])],
    ['clear', () => reg.clear('nosuch')],
    ['info', () => reg.info('nosuch')],
    ['table', () => reg.lines('nosuch', { status: false })],
    ['status', () => reg.lines('nosuch', { status: true })],
  ];
  for (const [ioctl, op] of ops) {
    const err = await failure(op);
    assert.equal(err.errno, 'ENXIO', ioctl);
    assert.equal(err.context['ioctl'], ioctl);
    assert.equal(err.context['name'], 'nosuch');
  }
});

test('a failed constructor closes the targets already built for the table', async () => {
  const reg = newRegistry();
  const g = gate('validation-close');
  await badCreate(reg, '0 8 test-gate validation-close /dev/ram0 0\n8 8 nosuch');
  assert.equal(g.instances, 1);
  assert.equal(g.closed, 1);
});

test('a singleton target type must be alone in its table', async () => {
  const reg = newRegistry();
  await reg.create('alone', { table: '0 8 test-single' });
  for (const table of ['0 8 test-single\n8 8 zero', '0 8 zero\n8 8 test-single']) {
    const { err, log } = await badCreate(reg, table);
    assert.equal(err.errno, 'EINVAL', table);
    assert.equal(log.at(-1), 'device-mapper: ioctl: error adding target to table');
    assert.equal(reg.has('bad'), false);
  }
});

test('singleton refusals use the kernel wording', async () => {
  const reg = newRegistry();
  // A target after a singleton: checked first thing in dm_table_add_target, no errno printed.
  let { log } = await badCreate(reg, '0 8 test-single\n8 8 zero');
  assert.deepEqual(log, ['device-mapper: table: 254:0: target type test-single must appear alone in table', 'device-mapper: ioctl: error adding target to table']);
  // A singleton after another target: ti->error of the singleton's line.
  ({ log } = await badCreate(reg, '0 8 zero\n8 8 test-single'));
  assert.deepEqual(log, ['device-mapper: table: 254:0: test-single: singleton target type must appear alone in table (-EINVAL)', 'device-mapper: ioctl: error adding target to table']);
});
