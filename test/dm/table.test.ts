// Table text as dmsetup reads it (_parse_line in dmsetup.c), argument splitting as the kernel's
// dm_split_args does it, and the `%llu %llu %s %s` line format.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatLine, parseSector, parseTable, splitArgs } from '../../src/dm/table.js';
import { UcryptError } from '../../src/errors.js';

function syntaxError(fn: () => unknown): UcryptError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof UcryptError, 'a UcryptError');
    return err;
  }
  assert.fail('expected a syntax error');
}

test('parseTable: one line', () => {
  assert.deepEqual(parseTable('0 1024 linear /dev/ram0 2048'), [{ start: 0, length: 1024, type: 'linear', params: '/dev/ram0 2048' }]);
});

test('parseTable: several lines, in order, with and without a trailing newline', () => {
  const text = '0 100 linear /dev/ram1 0\n100 50 zero\n150 10 error\n';
  const want = [
    { start: 0, length: 100, type: 'linear', params: '/dev/ram1 0' },
    { start: 100, length: 50, type: 'zero', params: '' },
    { start: 150, length: 10, type: 'error', params: '' },
  ];
  assert.deepEqual(parseTable(text), want);
  assert.deepEqual(parseTable(text.trimEnd()), want);
});

test('parseTable: blank lines, whitespace-only lines and # comment lines are skipped', () => {
  const text = ['# a table', '', '   ', '\t', '0 8 zero', '  # indented comment', '', '8 8 error', '#'].join('\n');
  assert.deepEqual(
    parseTable(text).map((l) => [l.start, l.length, l.type]),
    [
      [0, 8, 'zero'],
      [8, 8, 'error'],
    ],
  );
});

test('parseTable: text after # on a table line is a comment', () => {
  assert.deepEqual(parseTable('0 8 linear /dev/ram0 16 # remapped header'), [{ start: 0, length: 8, type: 'linear', params: '/dev/ram0 16' }]);
  assert.deepEqual(parseTable('0 8 linear /dev/ram0 16#tight'), [{ start: 0, length: 8, type: 'linear', params: '/dev/ram0 16' }]);
  assert.deepEqual(parseTable('0 8 zero #nothing'), [{ start: 0, length: 8, type: 'zero', params: '' }]);
});

test('parseTable: leading and trailing whitespace (spaces, tabs, CR) is ignored', () => {
  assert.deepEqual(parseTable('   0 8 zero   \n\t8\t8\terror\t\r\n'), [
    { start: 0, length: 8, type: 'zero', params: '' },
    { start: 8, length: 8, type: 'error', params: '' },
  ]);
});

test('parseTable: the parameter string is kept as given, inner whitespace and escapes included', () => {
  const [line] = parseTable('0 2048 crypt aes-xts-plain64  00ff  0 /dev/ram1 0 2 allow_discards\\ x  same_cpu_crypt');
  assert.equal(line?.type, 'crypt');
  assert.equal(line?.params, 'aes-xts-plain64  00ff  0 /dev/ram1 0 2 allow_discards\\ x  same_cpu_crypt');
});

test('parseTable: fields may be separated by several spaces or tabs', () => {
  assert.deepEqual(parseTable('0\t\t16    linear \t /dev/ram0   0'), [{ start: 0, length: 16, type: 'linear', params: '/dev/ram0   0' }]);
});

test('parseTable: large sector numbers are kept exactly', () => {
  const [line] = parseTable('0 8589934592 zero');
  assert.equal(line?.length, 2 ** 33);
});

test('parseTable: no lines at all gives an empty table', () => {
  assert.deepEqual(parseTable(''), []);
  assert.deepEqual(parseTable('\n\n# only a comment\n'), []);
});

test('parseTable: a malformed line is refused as dmsetup words it (default source: on stdin)', () => {
  const err = syntaxError(() => parseTable('abc def\n'));
  assert.equal(err.message, 'Invalid format on line 1 of table on stdin.');
  assert.equal(err.code, 'ERR_TABLE_SYNTAX');
  assert.equal(err.errno, 'EINVAL');
  assert.equal(err.context['line'], 1);
});

test('parseTable: --table uses an empty source (`of table .`)', () => {
  assert.equal(syntaxError(() => parseTable('x y z', '')).message, 'Invalid format on line 1 of table .');
});

test('parseTable: a file source is named in the message', () => {
  assert.equal(syntaxError(() => parseTable('0 8', '/tmp/t')).message, 'Invalid format on line 1 of table /tmp/t.');
});

test('parseTable: the line number counts blank and comment lines', () => {
  const text = '# header\n\n0 8 zero\n8 8\n';
  const err = syntaxError(() => parseTable(text));
  assert.equal(err.message, 'Invalid format on line 4 of table on stdin.');
  assert.equal(err.context['line'], 4);
});

test('parseTable: lines missing a field or with non-numeric sectors are refused', () => {
  for (const bad of ['0', '0 8', 'x 8 zero', '0 y zero', '-1 8 zero', '0 -8 zero', '0 1.5 zero', '# ok\n8 zero']) {
    assert.match(syntaxError(() => parseTable(bad)).message, /^Invalid format on line \d+ of table on stdin\.$/, JSON.stringify(bad));
  }
});

test('parseTable: the first malformed line wins, earlier good lines are not returned', () => {
  assert.equal(syntaxError(() => parseTable('0 8 zero\nbad\nworse')).message, 'Invalid format on line 2 of table on stdin.');
});

test('splitArgs: whitespace separates arguments; runs of whitespace count once', () => {
  assert.deepEqual(splitArgs('/dev/ram0 2048'), ['/dev/ram0', '2048']);
  assert.deepEqual(splitArgs('  a   b\t\tc \n d\r\fe\vf  '), ['a', 'b', 'c', 'd', 'e', 'f']);
});

test('splitArgs: empty or whitespace-only input has no arguments', () => {
  assert.deepEqual(splitArgs(''), []);
  assert.deepEqual(splitArgs(' \t  '), []);
});

test('splitArgs: a backslash quotes the next character (space, tab, backslash, anything)', () => {
  assert.deepEqual(splitArgs('a\\ b c'), ['a b', 'c']);
  assert.deepEqual(splitArgs('a\\\tb'), ['a\tb']);
  assert.deepEqual(splitArgs('a\\\\b'), ['a\\b']);
  assert.deepEqual(splitArgs('\\x\\y'), ['xy']);
  assert.deepEqual(splitArgs('a\\\\ b'), ['a\\', 'b']);
});

test('splitArgs: an escaped space alone is an argument; a trailing backslash is kept literally', () => {
  assert.deepEqual(splitArgs('a \\  b'), ['a', ' ', 'b']);
  assert.deepEqual(splitArgs('a b\\'), ['a', 'b\\']);
  assert.deepEqual(splitArgs('\\'), ['\\']);
});

test('splitArgs: a crypt-style parameter string', () => {
  assert.deepEqual(splitArgs('aes-xts-plain64 00ff 0 /dev/ram1 0 2 allow_discards same_cpu_crypt'), [
    'aes-xts-plain64',
    '00ff',
    '0',
    '/dev/ram1',
    '0',
    '2',
    'allow_discards',
    'same_cpu_crypt',
  ]);
});

test('formatLine: `%llu %llu %s %s`, so an empty result keeps its trailing space', () => {
  assert.equal(formatLine(0, 1024, 'linear', '1:0 2048'), '0 1024 linear 1:0 2048');
  assert.equal(formatLine(0, 1024, 'linear', ''), '0 1024 linear ');
  assert.equal(formatLine(150, 10, 'error', ''), '150 10 error ');
});

test('parseSector: unsigned decimals only', () => {
  assert.equal(parseSector('0'), 0);
  assert.equal(parseSector('2048'), 2048);
  assert.equal(parseSector('007'), 7);
  for (const bad of ['', 'abc', '-1', '+1', '1.0', '0x10', '1 ', ' 1', '12a', '99999999999999999999']) {
    assert.equal(parseSector(bad), undefined, JSON.stringify(bad));
  }
});
