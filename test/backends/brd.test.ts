// The brd "module" parameters and disk creation (src/backends/ram/brd.ts), as
// `modprobe brd rd_nr=N rd_size=KIB` on Linux.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BRD_DEFAULTS, createRamDisks, parseBrdParams } from '../../src/backends/ram/brd.js';
import { RamDisk } from '../../src/backends/ram/ramdisk.js';
import { UcryptError } from '../../src/errors.js';
import { assertAll, filled } from '../helpers/bytes.js';

function refused(args: readonly string[], message: RegExp): void {
  assert.throws(() => parseBrdParams(args), (err: unknown) => {
    assert.ok(err instanceof UcryptError, `expected a UcryptError for ${args.join(' ')}`);
    assert.equal(err.code, 'ERR_BRD');
    assert.equal(err.errno, 'EINVAL');
    assert.match(err.message, message);
    return true;
  }, args.join(' '));
}

test('defaults are those of Debian kernels: 16 disks of 16 MiB', () => {
  assert.deepEqual(BRD_DEFAULTS, { rd_nr: 16, rd_size: 16384 });
  assert.deepEqual(parseBrdParams([]), { rd_nr: 16, rd_size: 16384 });
});

test('rd_nr and rd_size are parsed; the other keeps its default', () => {
  assert.deepEqual(parseBrdParams(['rd_nr=2', 'rd_size=4096']), { rd_nr: 2, rd_size: 4096 });
  assert.deepEqual(parseBrdParams(['rd_nr=1']), { rd_nr: 1, rd_size: 16384 });
  assert.deepEqual(parseBrdParams(['rd_size=4']), { rd_nr: 16, rd_size: 4 });
  assert.deepEqual(parseBrdParams(['rd_size=1048576']), { rd_nr: 16, rd_size: 1048576 });
  assert.deepEqual(parseBrdParams(['rd_nr=1048576']), { rd_nr: 1048576, rd_size: 16384 });
});

test('a repeated parameter takes its last value, like modprobe', () => {
  assert.deepEqual(parseBrdParams(['rd_nr=2', 'rd_nr=5']), { rd_nr: 5, rd_size: 16384 });
});

test('max_part is accepted (numeric) and has no effect on the result', () => {
  assert.deepEqual(parseBrdParams(['max_part=1', 'rd_nr=3']), { rd_nr: 3, rd_size: 16384 });
  refused(['max_part=x'], /'x' invalid for parameter 'max_part'/);
});

test('parsing does not mutate the defaults or the arguments', () => {
  const args = ['rd_nr=1', 'rd_size=8'];
  const copy = [...args];
  parseBrdParams(args);
  assert.deepEqual(args, copy);
  assert.deepEqual(BRD_DEFAULTS, { rd_nr: 16, rd_size: 16384 });
  assert.deepEqual(parseBrdParams([]), { rd_nr: 16, rd_size: 16384 });
});

test('unknown parameters are refused, naming the key and the known ones', () => {
  refused(['rd_count=4'], /unknown parameter 'rd_count'; known parameters are: rd_nr, rd_size, max_part/);
  refused(['rd_nr=2', 'size=4'], /unknown parameter 'size'/);
  refused(['RD_NR=2'], /unknown parameter 'RD_NR'/);
  refused(['=4'], /unknown parameter ''/);
});

test('non-numeric values are refused, naming the value and the key', () => {
  refused(['rd_nr=abc'], /'abc' invalid for parameter 'rd_nr'/);
  refused(['rd_nr='], /'' invalid for parameter 'rd_nr'/);
  refused(['rd_nr'], /'' invalid for parameter 'rd_nr'/);
  refused(['rd_nr=-1'], /'-1' invalid for parameter 'rd_nr'/);
  refused(['rd_nr=1.5'], /'1.5' invalid/);
  refused(['rd_nr= 2'], /' 2' invalid/);
  refused(['rd_size=0x10'], /'0x10' invalid for parameter 'rd_size'/);
  refused(['rd_size=16M'], /'16M' invalid for parameter 'rd_size'/);
  refused(['rd_size=1e3'], /'1e3' invalid/);
});

test('rd_size must be a positive multiple of 4 KiB', () => {
  for (const v of ['0', '1', '2', '6', '1023', '4097', '16385']) {
    refused([`rd_size=${v}`], new RegExp(`rd_size=${v} KiB must be a positive multiple of 4 KiB`));
  }
});

test('values too large to hold exactly are refused at parse time, as kstrtoul refuses them (ERANGE)', () => {
  // Number('99999999999999999999') is 1e20, not that integer; the kernel refuses a value that
  // overflows its unsigned long with the same "invalid for parameter" message.
  refused(['rd_size=99999999999999999999'], /'99999999999999999999' invalid for parameter 'rd_size'/);
  refused(['max_part=99999999999999999999'], /invalid for parameter 'max_part'/);
});

test('rd_nr must be between 1 and 2^20', () => {
  refused(['rd_nr=0'], /rd_nr=0 must be between 1 and 1048576/);
  refused(['rd_nr=1048577'], /rd_nr=1048577 must be between 1 and 1048576/);
});

test('createRamDisks makes rd_nr independent disks of rd_size KiB', async () => {
  const disks = createRamDisks({ rd_nr: 3, rd_size: 64 });
  assert.equal(disks.length, 3);
  for (const d of disks) {
    assert.ok(d instanceof RamDisk);
    assert.equal(d.size, 64 * 1024);
    assert.deepEqual(d.stats(), { pages: 0, slabBytes: 0 });
  }
  assert.equal(new Set(disks).size, 3, 'distinct instances');
  await disks[1]!.write(4096, filled(4096, 0xab));
  const buf = new Uint8Array(4096);
  await disks[0]!.read(4096, buf);
  assertAll(buf, 0, 'ram0 does not see ram1 data');
  await disks[2]!.read(4096, buf);
  assertAll(buf, 0, 'ram2 does not see ram1 data');
  await disks[1]!.read(4096, buf);
  assertAll(buf, 0xab, 'ram1 has its data');
  assert.deepEqual(disks.map((d) => d.stats().pages), [0, 1, 0]);
});

test('createRamDisks with the default parameters: 16 disks of 16 MiB, no memory used', () => {
  const disks = createRamDisks(parseBrdParams([]));
  assert.equal(disks.length, 16);
  for (const d of disks) {
    assert.equal(d.size, 16 * 1024 * 1024);
    assert.equal(d.stats().slabBytes, 0);
  }
});
