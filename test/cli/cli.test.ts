// The ucrypt CLI outside dmsetup's golden session: modprobe/rmmod, table files, read-only
// devices, dmesg, help and errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry, cli } from '../helpers/cli.js';

test('modprobe brd creates the disks quietly; bad parameters are refused with a reason', async () => {
  const reg = new Registry();
  assert.deepEqual(await cli(reg, ['modprobe', 'brd', 'rd_nr=3', 'rd_size=1024']), { stdout: '', stderr: '', exit: 0 });
  assert.equal(reg.ramDiskCount, 3);
  assert.equal(reg.ramDisk(2)!.size, 1024 * 1024);
  const again = await cli(reg, ['modprobe', 'brd', 'rd_nr=5']);
  assert.equal(again.exit, 0, 'loading a loaded module does nothing');
  assert.equal(reg.ramDiskCount, 3);

  const fresh = new Registry();
  const bad = await cli(fresh, ['modprobe', 'brd', 'rd_size=abc']);
  assert.equal(bad.exit, 1);
  assert.match(bad.stderr, /'abc' invalid for parameter 'rd_size'/);
  const unknown = await cli(fresh, ['modprobe', 'brd', 'colour=blue']);
  assert.match(unknown.stderr, /unknown parameter 'colour'/);
  const other = await cli(fresh, ['modprobe', 'nbd']);
  assert.equal(other.exit, 1);
  assert.match(other.stderr, /Module nbd not found/);
  assert.equal((await cli(fresh, ['modprobe'])).exit, 1);
  assert.equal(fresh.ramDiskCount, 0);
});

test('rmmod brd is refused while a table uses a disk, and works once it does not', async () => {
  const reg = new Registry();
  await cli(reg, ['modprobe', 'brd', 'rd_nr=1', 'rd_size=1024']);
  assert.equal((await cli(reg, ['dmsetup', 'create', 'x', '--table', '0 8 linear /dev/ram0 0'])).exit, 0);
  const busy = await cli(reg, ['rmmod', 'brd']);
  assert.deepEqual(busy, { stdout: '', stderr: 'rmmod: ERROR: Module brd is in use\n', exit: 1 });
  assert.equal((await cli(reg, ['dmsetup', 'remove', 'x'])).exit, 0);
  assert.equal((await cli(reg, ['rmmod', 'brd'])).exit, 0);
  assert.equal(reg.ramDiskCount, 0);
  const gone = await cli(reg, ['rmmod', 'brd']);
  assert.match(gone.stderr, /not currently loaded/);
});

test('dmsetup create and reload read a table file, and report its name on a bad line', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ucrypt-cli-'));
  try {
    const reg = new Registry();
    await cli(reg, ['modprobe', 'brd', 'rd_nr=1', 'rd_size=1024']);
    const good = join(dir, 'good.table');
    await writeFile(good, '# two targets\n0 8 linear /dev/ram0 0\n8 8 zero   # a comment\n');
    assert.equal((await cli(reg, ['dmsetup', 'create', 'f', good])).exit, 0);
    assert.equal((await cli(reg, ['dmsetup', 'table', 'f'])).stdout, '0 8 linear 1:0 0\n8 8 zero \n');
    const bad = join(dir, 'bad.table');
    await writeFile(bad, '0 8 zero\nnonsense\n');
    assert.deepEqual(await cli(reg, ['dmsetup', 'reload', 'f', bad]), { stdout: '', stderr: `Invalid format on line 2 of table ${bad}.\nCommand failed.\n`, exit: 1 });
    const missing = await cli(reg, ['dmsetup', 'reload', 'f', join(dir, 'nope')]);
    assert.match(missing.stderr, /^Couldn't open '.*nope' for reading\n/);
    assert.equal((await cli(reg, ['dmsetup', 'info', 'f'])).stdout.includes('Tables present:    LIVE\n'), true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a read-only device refuses writes and says so in info', async () => {
  const reg = new Registry();
  await cli(reg, ['modprobe', 'brd', 'rd_nr=1', 'rd_size=1024']);
  assert.equal((await cli(reg, ['dmsetup', 'create', 'ro', '-r', '--table', '0 8 linear /dev/ram0 0'])).exit, 0);
  assert.match((await cli(reg, ['dmsetup', 'info', 'ro'])).stdout, /State: {13}ACTIVE \(READ-ONLY\)\n/);
  assert.match((await cli(reg, ['dmsetup', 'info', '-c', '--noheadings', 'ro'])).stdout, /^ro +254 +0 L--r /);
  const dev = (await reg.device('ro'))!;
  await assert.rejects(dev.write(0, new Uint8Array(512)), { errno: 'EROFS' });
  await dev.read(0, new Uint8Array(512));
});

test('dmesg shows the kernel-style reason of a failed table', async () => {
  const reg = new Registry();
  await cli(reg, ['modprobe', 'brd', 'rd_nr=1', 'rd_size=1024']);
  const r = await cli(reg, ['dmsetup', 'create', 'bad', '--table', '0 8 linear /dev/ram0']);
  assert.equal(r.stderr, 'device-mapper: reload ioctl on bad (254:0) failed: Invalid argument\nCommand failed.\n');
  const log = (await cli(reg, ['dmesg'])).stdout.split('\n');
  assert.ok(log.some((l) => /^\[ *\d+\.\d{6}\] device-mapper: table: 254:0: linear: Invalid argument count \(-EINVAL\)$/.test(l)), log.join('\n'));
});

test('help, version, unknown commands and options', async () => {
  const reg = new Registry();
  assert.match((await cli(reg, ['--help'])).stdout, /usage: ucrypt <command>/);
  assert.equal((await cli(reg, [])).exit, 2);
  assert.match((await cli(reg, ['--version'])).stdout, /^ucrypt \d+\.\d+\.\d+\n$/);
  const unknown = await cli(reg, ['frobnicate']);
  assert.equal(unknown.exit, 2);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  const opt = await cli(reg, ['dmsetup', 'ls', '--bogus']);
  assert.equal(opt.exit, 1);
  assert.match(opt.stderr, /^dmsetup: unrecognized option '--bogus'/);
  const msg = await cli(reg, ['dmsetup', 'message', 'x', 'abc', 'y']);
  assert.equal(msg.stderr, 'Invalid sector.\nCommand failed.\n');
});
