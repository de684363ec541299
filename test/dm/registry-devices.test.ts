// The registry's devices: names and numbers as Linux gives them (ramN 1:N, loopN 7:N, dm-N 254:N
// with the lowest free minor), lookup by every accepted name, open counts and holders, removal
// order, messages, and the brd module.

import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { FileDevice } from '../../src/backends/file/file.js';
import { RamDisk } from '../../src/backends/ram/ramdisk.js';
import { MappedDevice } from '../../src/dm/mapped-device.js';
import { DM_MAJOR } from '../../src/dm/registry.js';
import { failure, logSince, messages, newRegistry, pattern, SECTOR } from './support.js';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ucrypt-dm-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function imageFile(name: string, bytes: number): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, new Uint8Array(bytes));
  return path;
}

// ---- lookup -----------------------------------------------------------------------------------

test('lookup: RAM disks by /dev/ramN and 1:N', async () => {
  const reg = newRegistry();
  for (const [path, key, kname] of [
    ['/dev/ram0', '1:0', 'ram0'],
    ['/dev/ram1', '1:1', 'ram1'],
    ['1:1', '1:1', 'ram1'],
    ['001:000', '1:0', 'ram0'],
  ] as const) {
    const found = await reg.lookup(path);
    assert.ok(found, path);
    assert.equal(found.key, key, path);
    assert.equal(found.node.kname, kname);
    assert.equal(found.node.major, 1);
    assert.equal(found.node.dev, reg.ramDisk(found.node.minor));
  }
  assert.equal(await reg.lookup('/dev/ram2'), undefined);
  assert.equal(await reg.lookup('1:2'), undefined);
});

test('lookup: mapped devices by /dev/mapper/NAME, /dev/dm-N and 254:N', async () => {
  const reg = newRegistry();
  await reg.create('first', { table: '0 8 zero' });
  const md = await reg.create('second', { table: '0 8 zero' });
  for (const path of ['/dev/mapper/second', '/dev/dm-1', '254:1']) {
    const found = await reg.lookup(path);
    assert.ok(found, path);
    assert.equal(found.key, '254:1', path);
    assert.equal(found.node.kname, 'dm-1');
    assert.equal(found.node.major, DM_MAJOR);
    assert.equal(found.node.dev, md);
  }
  for (const path of ['/dev/mapper/nosuch', '/dev/dm-2', '254:2', '/dev/nosuch']) {
    assert.equal(await reg.lookup(path), undefined, path);
  }
});

test('device(): bare names too (ramN, a mapped name)', async () => {
  const reg = newRegistry();
  const md = await reg.create('lin', { table: '0 8 zero' });
  assert.equal(await reg.device('lin'), md);
  assert.ok((await reg.device('ram1')) instanceof RamDisk);
  assert.equal(await reg.device('ram1'), reg.ramDisk(1));
  assert.equal(await reg.device('/dev/mapper/lin'), md);
  assert.equal(await reg.device('nosuch-name'), undefined);
});

test('a table may name its devices any accepted way; the table line shows MAJ:MIN', async () => {
  const reg = newRegistry();
  await reg.create('lin', { table: '0 1024 linear /dev/ram0 2048' });
  const cases: [string, string][] = [
    ['/dev/ram1 0', '1:1 0'],
    ['1:1 8', '1:1 8'],
    ['/dev/mapper/lin 0', '254:0 0'],
    ['/dev/dm-0 16', '254:0 16'],
    ['254:0 32', '254:0 32'],
  ];
  for (const [i, [args, shown]] of cases.entries()) {
    await reg.create(`d${i}`, { table: `0 8 linear ${args}` });
    assert.deepEqual(reg.lines(`d${i}`, { status: false }), [`0 8 linear ${shown}`], args);
  }
});

test('mapped devices take the lowest free minor', async () => {
  const reg = newRegistry();
  for (const name of ['a', 'b', 'c', 'd']) await reg.create(name, { table: '0 8 zero' });
  await reg.remove('b');
  await reg.remove('a');
  assert.equal((await reg.create('e')).minor, 0);
  assert.equal((await reg.create('f')).minor, 1);
  assert.equal((await reg.create('g')).minor, 4);
  assert.equal(reg.info('f').minor, 1);
  assert.equal(reg.info('f').major, 254);
  assert.equal((await reg.lookup('/dev/dm-1'))?.node.dev, await reg.device('f'));
  assert.deepEqual(
    reg.list().map((m) => `${m.name}:${m.minor}`),
    ['e:0', 'f:1', 'c:2', 'd:3', 'g:4'],
  );
});

// ---- files as loop devices ----------------------------------------------------------------------

test('a regular file is attached as 7:N (loopN), shown as 7:N, and data goes to the file', async () => {
  const reg = newRegistry();
  const path = await imageFile('a.img', 1 << 20);
  const md = await reg.create('onfile', { table: `0 1024 linear ${path} 1024` });
  assert.deepEqual(reg.lines('onfile', { status: false }), ['0 1024 linear 7:0 1024']);
  assert.deepEqual(reg.deps('onfile'), [{ key: '7:0', kname: 'loop0', mapped: undefined }]);
  const found = await reg.lookup('7:0');
  assert.ok(found?.node.dev instanceof FileDevice);
  assert.equal(found.node.kname, 'loop0');
  const data = pattern(1, 4096);
  await md.write(8 * SECTOR, data);
  await md.flush();
  const bytes = await readFile(path);
  assert.deepEqual(new Uint8Array(bytes.subarray((1024 + 8) * SECTOR, (1024 + 8) * SECTOR + 4096)), data);
  assert.equal(
    bytes.subarray(0, (1024 + 8) * SECTOR).every((b) => b === 0),
    true,
  );
  const back = new Uint8Array(4096);
  await md.read(8 * SECTOR, back);
  assert.deepEqual(back, data);
  await reg.remove('onfile');
});

test('a file stays attached while any table uses it and is detached with the last one', async () => {
  const reg = newRegistry();
  const path = await imageFile('shared.img', 64 * SECTOR);
  await reg.create('one', { table: `0 32 linear ${path} 0` });
  await reg.create('two', { table: `0 32 linear ${path} 32` });
  assert.deepEqual(reg.lines('two', { status: false }), ['0 32 linear 7:0 32'], 'the same file is the same loop device');
  assert.ok(await reg.lookup('7:0'));
  await reg.remove('one');
  assert.ok(await reg.lookup('7:0'), 'still used by two');
  await reg.remove('two');
  assert.equal(await reg.lookup('7:0'), undefined, 'detached with its last user');
});

test('two different files get two loop devices', async () => {
  const reg = newRegistry();
  const p1 = await imageFile('f1.img', 16 * SECTOR);
  const p2 = await imageFile('f2.img', 16 * SECTOR);
  await reg.create('both', { table: `0 16 linear ${p1} 0\n16 16 linear ${p2} 0` });
  assert.deepEqual(reg.lines('both', { status: false }), ['0 16 linear 7:0 0', '16 16 linear 7:1 0']);
  assert.deepEqual(
    reg.deps('both').map((d) => d.key),
    ['7:1', '7:0'],
  );
  await reg.remove('both');
  assert.equal(await reg.lookup('7:0'), undefined);
  assert.equal(await reg.lookup('7:1'), undefined);
});

test('a file too small for the table: kernel wording with the loop name, and the file is detached again', async () => {
  const reg = newRegistry();
  const path = await imageFile('small.img', 2048 * SECTOR);
  const mark = reg.dmesg().length;
  const err = await failure(() => reg.create('big', { table: `0 4096 linear ${path} 0` }));
  assert.equal(err.errno, 'EINVAL');
  assert.deepEqual(logSince(reg, mark), [
    'device-mapper: table: 254:0: loop0 too small for target: start=0, len=4096, dev_size=2048',
    'device-mapper: core: Cannot calculate initial queue limits',
    'device-mapper: ioctl: unable to set up device queue for new table.',
  ]);
  assert.equal(await reg.lookup('7:0'), undefined);
});

test('a file over the reload of a table: the replaced table releases it', async () => {
  const reg = newRegistry();
  const path = await imageFile('reload.img', 64 * SECTOR);
  await reg.create('r', { table: `0 32 linear ${path} 0` });
  await reg.load('r', '0 32 linear /dev/ram0 0');
  assert.ok(await reg.lookup('7:0'), 'the live table still holds it');
  await reg.resume('r');
  assert.equal(await reg.lookup('7:0'), undefined);
});

test('discard is not offered over a file (the file backend cannot discard)', async () => {
  const reg = newRegistry();
  const path = await imageFile('nodiscard.img', 64 * SECTOR);
  const md = await reg.create('nd', { table: `0 64 linear ${path} 0` });
  assert.equal(md.limits.discard, false);
  const err = await failure(() => md.discard(0, 4096));
  assert.equal(err.errno, 'ENOTSUP');
  await reg.remove('nd');
});

// ---- open counts, holders, removal ------------------------------------------------------------

test('a mapped device used by another table has open count 1 and cannot be removed (EBUSY)', async () => {
  const reg = newRegistry();
  const lin = await reg.create('lin', { table: '0 1024 linear /dev/ram0 2048' });
  assert.equal(lin.openCount, 0);
  await reg.create('stacked', { table: '0 512 linear /dev/mapper/lin 0' });
  assert.equal(lin.openCount, 1);
  assert.equal(reg.info('lin').openCount, 1);
  assert.equal(reg.info('stacked').openCount, 0);
  assert.deepEqual(reg.lines('stacked', { status: false }), ['0 512 linear 254:0 0']);
  assert.deepEqual(reg.deps('stacked'), [{ key: '254:0', kname: 'dm-0', mapped: 'lin' }]);
  const err = await failure(() => reg.remove('lin'));
  assert.equal(err.errno, 'EBUSY');
  assert.equal(err.context['ioctl'], 'remove');
  assert.equal(err.context['name'], 'lin');
  assert.ok(reg.has('lin'));
  await reg.remove('stacked');
  assert.equal(lin.openCount, 0);
  await reg.remove('lin');
  assert.equal(reg.has('lin'), false);
});

test('each table line over a device counts as one open', async () => {
  const reg = newRegistry();
  const lower = await reg.create('lower', { table: '0 64 zero' });
  await reg.create('upper', { table: '0 8 linear /dev/mapper/lower 0\n8 8 linear /dev/mapper/lower 32' });
  assert.equal(lower.openCount, 2);
  assert.deepEqual(reg.deps('upper'), [{ key: '254:0', kname: 'dm-0', mapped: 'lower' }], 'deps lists a device once');
  await reg.remove('upper');
  assert.equal(lower.openCount, 0);
});

test('open()/close(): an export holds a device like a table does', async () => {
  const reg = newRegistry();
  const md = await reg.create('exp', { table: '0 8 zero' });
  assert.equal(reg.open('exp'), md);
  assert.equal(md.openCount, 1);
  assert.equal((await failure(() => reg.remove('exp'))).errno, 'EBUSY');
  reg.close('exp');
  assert.equal(md.openCount, 0);
  await reg.remove('exp');
});

test('deps: newest first, as the kernel lists a table device list', async () => {
  const reg = newRegistry();
  await reg.create('two', { table: '0 100 linear /dev/ram0 4096\n100 100 linear /dev/ram1 4096' });
  assert.deepEqual(reg.deps('two'), [
    { key: '1:1', kname: 'ram1', mapped: undefined },
    { key: '1:0', kname: 'ram0', mapped: undefined },
  ]);
  await reg.create('z', { table: '0 8 zero' });
  assert.deepEqual(reg.deps('z'), []);
  await reg.create('none');
  assert.deepEqual(reg.deps('none'), []);
});

test('removeAll removes holders before the devices they hold', async () => {
  const reg = newRegistry();
  await reg.create('lin', { table: '0 1024 linear /dev/ram0 2048' });
  await reg.create('multi', { table: '0 100 linear /dev/ram1 0\n100 50 zero\n150 10 error' });
  await reg.create('stacked', { table: '0 512 linear /dev/mapper/lin 0' });
  await reg.create('two', { table: '0 100 linear /dev/ram0 4096\n100 100 linear /dev/ram1 4096' });
  await reg.create('top', { table: '0 200 linear /dev/mapper/two 0' });
  await reg.create('toptop', { table: '0 100 linear /dev/mapper/top 0' });
  const holds: [string, string][] = [
    ['stacked', 'lin'],
    ['top', 'two'],
    ['toptop', 'top'],
  ];
  const removed = await reg.removeAll();
  assert.deepEqual([...removed].sort(), ['lin', 'multi', 'stacked', 'toptop', 'top', 'two'].sort());
  for (const [holder, held] of holds) {
    assert.ok(removed.indexOf(holder) < removed.indexOf(held), `${holder} goes before ${held}: ${removed.join(' ')}`);
  }
  assert.deepEqual(reg.list(), []);
  reg.rmmodBrd();
});

test('removeAll leaves a device held open from outside, and what it holds', async () => {
  const reg = newRegistry();
  await reg.create('base', { table: '0 64 zero' });
  await reg.create('held', { table: '0 64 linear /dev/mapper/base 0' });
  await reg.create('free', { table: '0 8 zero' });
  reg.open('held');
  assert.deepEqual(await reg.removeAll(), ['free']);
  assert.deepEqual(
    reg.list().map((m) => m.name),
    ['base', 'held'],
  );
  reg.close('held');
  assert.deepEqual(await reg.removeAll(), ['held', 'base']);
});

test('removing a device frees its node: /dev/dm-N and 254:N no longer resolve', async () => {
  const reg = newRegistry();
  await reg.create('gone', { table: '0 8 zero' });
  await reg.remove('gone');
  assert.equal(await reg.lookup('/dev/dm-0'), undefined);
  assert.equal(await reg.lookup('254:0'), undefined);
  // A new device takes the freed minor, so a table naming dm-0 now names the new device itself.
  const mark = reg.dmesg().length;
  assert.equal((await failure(() => reg.create('x', { table: '0 8 linear /dev/dm-0 0' }))).errno, 'EINVAL');
  assert.equal(logSince(reg, mark)[0], 'device-mapper: table: 254:0: linear: Device lookup failed (-EINVAL)');
});

// ---- info -------------------------------------------------------------------------------------

test('info of a linear device', async () => {
  const reg = newRegistry();
  await reg.create('lin', { table: '0 1024 linear /dev/ram0 2048' });
  const info = reg.info('lin');
  assert.equal(info.name, 'lin');
  assert.equal(info.uuid, '');
  assert.equal(info.major, 254);
  assert.equal(info.minor, 0);
  assert.equal(info.suspended, false);
  assert.equal(info.readOnly, false);
  assert.equal(info.tablesPresent, 'LIVE');
  assert.equal(info.openCount, 0);
  assert.equal(info.eventNr, 0);
  assert.equal(info.targetCount, 1);
  assert.equal(info.size, 1024 * SECTOR);
  assert.equal(info.limits.logicalBlockSize, 512);
  assert.equal(info.limits.physicalBlockSize, 4096, 'brd physical block size is a page');
  assert.equal(info.limits.discard, true);
});

test('info: multi-target count, uuid, read-only', async () => {
  const reg = newRegistry();
  await reg.create('multi', { table: '0 100 linear /dev/ram1 0\n100 50 zero\n150 10 error' });
  assert.equal(reg.info('multi').targetCount, 3);
  assert.equal(reg.info('multi').size, 160 * SECTOR);
  await reg.create('withuuid', { uuid: 'UCRYPT-TEST-0001', table: '0 8 zero' });
  assert.equal(reg.info('withuuid').uuid, 'UCRYPT-TEST-0001');
  const ro = await reg.create('ro', { readOnly: true, table: '0 8 linear /dev/ram0 0' });
  assert.equal(reg.info('ro').readOnly, true);
  assert.equal(ro.limits.readOnly, true);
  const err = await failure(() => ro.write(0, new Uint8Array(512)));
  assert.equal(err.errno, 'EROFS');
  const buf = new Uint8Array(512);
  await ro.read(0, buf);
});

test('a device created without a table has no size and no targets', async () => {
  const reg = newRegistry();
  const md = await reg.create('empty');
  const info = reg.info('empty');
  assert.equal(info.tablesPresent, 'None');
  assert.equal(info.targetCount, 0);
  assert.equal(info.size, 0);
  assert.equal(info.suspended, false);
  assert.deepEqual(reg.lines('empty', { status: false }), []);
  assert.ok(md instanceof MappedDevice);
  await md.flush();
});

// ---- messages ---------------------------------------------------------------------------------

test('message to a target without message support: EINVAL and the golden log line', async () => {
  const reg = newRegistry();
  await reg.create('lin', { table: '0 1024 linear /dev/ram0 2048' });
  const mark = reg.dmesg().length;
  const err = await failure(() => reg.message('lin', 0, ['hello']));
  assert.equal(err.errno, 'EINVAL');
  assert.equal(err.context['ioctl'], 'message');
  assert.equal(err.context['name'], 'lin');
  assert.deepEqual(logSince(reg, mark), ['device-mapper: ioctl: Target type does not support messages']);
});

test('message: the golden capture logs exactly what the registry logs', async () => {
  const golden = JSON.parse(readFileSync(new URL('../../../test/vectors/dmsetup/dmsetup-golden.json', import.meta.url), 'utf8')) as {
    note: string;
    argv: string[];
    dmesg: string[];
  }[];
  const rec = golden.find((r) => r.note === 'message to linear (not supported)');
  assert.ok(rec);
  const reg = newRegistry();
  await reg.create('lin', { table: '0 1024 linear /dev/ram0 2048' });
  const mark = reg.dmesg().length;
  await failure(() => reg.message('lin', Number(rec.argv[3]), rec.argv.slice(4)));
  assert.deepEqual(logSince(reg, mark), rec.dmesg);
});

test('message: the sector picks the target; zero and error take none either', async () => {
  const reg = newRegistry();
  await reg.create('m', { table: '0 100 test-msg\n100 50 zero\n150 10 error' });
  messages.length = 0;
  assert.equal(await reg.message('m', 0, ['key', 'wipe']), 'ok key,wipe');
  assert.equal(await reg.message('m', 99, ['x']), 'ok x');
  assert.deepEqual(messages, [
    [['key', 'wipe'], false],
    [['x'], false],
  ]);
  for (const sector of [100, 149, 150, 159]) {
    const mark = reg.dmesg().length;
    assert.equal((await failure(() => reg.message('m', sector, ['x']))).errno, 'EINVAL');
    assert.deepEqual(logSince(reg, mark), ['device-mapper: ioctl: Target type does not support messages'], String(sector));
  }
});

test('message: sector outside the device, or no live table', async () => {
  const reg = newRegistry();
  await reg.create('m', { table: '0 100 test-msg' });
  let mark = reg.dmesg().length;
  let err = await failure(() => reg.message('m', 100, ['x']));
  assert.equal(err.errno, 'EINVAL');
  assert.deepEqual(logSince(reg, mark), ['device-mapper: ioctl: Target message sector outside device.']);
  await reg.create('none');
  mark = reg.dmesg().length;
  err = await failure(() => reg.message('none', 0, ['x']));
  assert.equal(err.errno, 'EINVAL');
  assert.deepEqual(logSince(reg, mark), ['device-mapper: ioctl: Target message sector outside device.']);
});

test('message: the target learns whether the device is suspended; its errors carry their errno', async () => {
  const reg = newRegistry();
  await reg.create('m', { table: '0 100 test-msg' });
  messages.length = 0;
  await reg.suspend('m');
  await reg.message('m', 0, ['key', 'set']);
  await reg.resume('m');
  assert.deepEqual(messages, [[['key', 'set'], true]]);
  const err = await failure(() => reg.message('m', 0, ['fail']));
  assert.equal(err.errno, 'EINVAL');
  assert.equal(err.context['ioctl'], 'message');
  assert.equal(err.message, 'Unrecognised message received');
});

// ---- brd --------------------------------------------------------------------------------------

test('modprobe brd: rd_nr disks of rd_size KiB; a second modprobe is a no-op', async () => {
  const reg = newRegistry();
  assert.equal(reg.brdLoaded, true);
  assert.equal(reg.ramDiskCount, 2);
  assert.equal(reg.ramDisk(0)?.size, 16384 * SECTOR);
  assert.equal(reg.ramDisk(2), undefined);
  const data = pattern(7, 4096);
  await reg.ramDisk(1)!.write(4096, data);
  const mark = reg.dmesg().length;
  const first = reg.ramDisk(1);
  const again = reg.modprobeBrd({ rd_nr: 4, rd_size: 4 });
  assert.equal(again.length, 2, 'parameters of a second modprobe are ignored');
  assert.equal(reg.ramDiskCount, 2);
  assert.equal(reg.ramDisk(1), first, 'the same disks');
  assert.deepEqual(logSince(reg, mark), [], 'nothing logged');
  const back = new Uint8Array(4096);
  await reg.ramDisk(1)!.read(4096, back);
  assert.deepEqual(back, data, 'data survives');
});

test('modprobe logs the module load once', () => {
  const reg = newRegistry();
  assert.deepEqual(logSince(reg, 0), ['brd: module loaded']);
});

test('rmmod brd is refused while a RAM disk is used by a table (live or inactive)', async () => {
  const reg = newRegistry();
  await reg.create('lin', { table: '0 8 linear /dev/ram1 0' });
  let err = await failure(() => reg.rmmodBrd());
  assert.equal(err.errno, 'EBUSY');
  assert.equal(err.message, 'rmmod: ERROR: Module brd is in use');
  assert.equal(reg.brdLoaded, true);
  await reg.load('lin', '0 8 zero');
  await reg.resume('lin');
  reg.rmmodBrd();
  assert.equal(reg.brdLoaded, false);
  assert.equal(await reg.lookup('/dev/ram0'), undefined);
  err = await failure(() => reg.rmmodBrd());
  assert.equal(err.errno, 'ENOENT');
  // An inactive table holds the disk as well.
  reg.modprobeBrd({ rd_nr: 1, rd_size: 64 });
  await reg.load('lin', '0 8 linear /dev/ram0 0');
  assert.equal((await failure(() => reg.rmmodBrd())).errno, 'EBUSY');
  reg.clear('lin');
  reg.rmmodBrd();
});

test('rmmod then modprobe gives fresh, empty disks', async () => {
  const reg = newRegistry();
  await reg.ramDisk(0)!.write(0, pattern(3, 4096));
  reg.rmmodBrd();
  reg.modprobeBrd({ rd_nr: 1, rd_size: 8192 });
  const back = new Uint8Array(4096);
  await reg.ramDisk(0)!.read(0, back);
  assert.ok(back.every((b) => b === 0));
  assert.equal(reg.ramDiskCount, 1);
});

test('targetVersions lists the built-in targets', () => {
  const reg = newRegistry();
  const versions = new Map(reg.targetVersions().map((t) => [t.name, t.version]));
  assert.equal(versions.get('linear'), '1.5.0');
  assert.equal(versions.get('zero'), '1.2.0');
  assert.equal(versions.get('error'), '1.7.0');
});

test('dmesg lines carry a kernel-style timestamp prefix', () => {
  const reg = newRegistry();
  reg.klog('device-mapper: test line');
  const last = reg.dmesg().at(-1)!;
  assert.match(last, /^\[ {0,4}\d+\.\d{6}\] device-mapper: test line$/);
  assert.equal(last.indexOf(']'), 13);
});
