// fio's number formatting and parsing, checked against strings real fio printed (the seed's
// group line, and fio 3.33 runs on this machine).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { num2str, parseSize, parseSizeOrPercent, parseTime } from '../../src/bench/units.js';
import { groupLine } from '../../src/bench/report.js';

test('num2str prints as fio does (4 significant figures, unit switching, rounding)', () => {
  const b = (v: number): string => num2str(v, 4, 1, true, 'bytepersec');
  const bd = (v: number): string => num2str(v, 4, 1, false, 'bytepersec');
  // 508 MiB/s exactly and its SI twin.
  assert.equal(b(508 * 1048576), '508MiB/s');
  assert.equal(bd(508 * 1048576), '533MB/s');
  assert.equal(num2str(5596 * 1048576 + 12345, 4, 1, true, 'byte'), '5596MiB');
  assert.equal(num2str(16 * 1048576, 4, 1, true, 'byte'), '16.0MiB');
  assert.equal(num2str(1432521, 4, 1, false, 'none'), '1433k');
  assert.equal(num2str(999, 4, 1, false, 'none'), '999');
  assert.equal(num2str(8192, 4, 1, true, 'byte'), '8192B');
  assert.equal(num2str(12345, 4, 1, true, 'byte'), '12.1KiB');
  assert.equal(num2str(2820600, 6, 1, false, 'none'), '2820.6k');
  // 89.3 GiB / 95.9 GB (the seed's io=).
  const io = Math.round(89.3 * 1024 ** 3);
  assert.equal(num2str(io, 4, 1, true, 'byte'), '89.3GiB');
  assert.equal(num2str(io, 4, 1, false, 'byte'), '95.9GB');
  // .96 rounds up into the integer part (fio: `if (tmp[0] == '1') num++`).
  assert.equal(num2str(Math.round(9.996 * 1048576), 4, 1, true, 'byte'), '10.00MiB');
});

test('the group line has fio show_group_stats shape', () => {
  const agg = 508 * 1048576 + 300000;
  const line = groupLine('READ', { ioBytes: Math.round(89.3 * 1024 ** 3), agg, minBw: agg, maxBw: agg, minRun: 180000, maxRun: 180000 });
  assert.equal(line, '   READ: bw=508MiB/s (533MB/s), 508MiB/s-508MiB/s (533MB/s-533MB/s), io=89.3GiB (95.9GB), run=180000-180000msec');
  assert.match(groupLine('WRITE', { ioBytes: 4096, agg: 4096, minBw: 4096, maxBw: 4096, minRun: 1, maxRun: 1 }), /^ {2}WRITE: bw=4096B\/s \(4096B\/s\), /);
});

test('sizes and times use fio units', () => {
  assert.equal(parseSize('4k'), 4096);
  assert.equal(parseSize('4K'), 4096);
  assert.equal(parseSize('4kB'), 4096);
  assert.equal(parseSize('1m'), 1048576);
  assert.equal(parseSize('2g'), 2 * 1024 ** 3);
  assert.equal(parseSize('4096'), 4096);
  // fio's compatibility rule with kb_base=1024: the "i" spellings are powers of ten.
  assert.equal(parseSize('1mi'), 1000000);
  assert.deepEqual(parseSizeOrPercent('50%', 'offset'), { percent: 50 });
  assert.throws(() => parseSize('4x'), /not a size/);
  assert.equal(parseTime('10'), 10e6);
  assert.equal(parseTime('3m'), 180e6);
  assert.equal(parseTime('500ms'), 500e3);
  assert.equal(parseTime('250us'), 250);
  assert.equal(parseTime('1h'), 3600e6);
  assert.equal(parseTime('0.3'), 300e3);
  assert.throws(() => parseTime('5 parsecs'), /unknown time unit/);
});
