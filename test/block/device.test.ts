// The block layer contract's boundary checks (src/block/device.ts): checkIo refuses anything that
// is not whole logical blocks inside the device, checkWritable refuses writes to a read-only device,
// and writeZeroesByWriting covers a range with bounded zero buffers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BlockDevice, BlockLimits, IoOp, WriteFlags } from '../../src/block/device.js';
import { SECTOR_SHIFT, SECTOR_SIZE, checkIo, checkWritable, writeZeroesByWriting } from '../../src/block/device.js';
import { Errno, UcryptError } from '../../src/errors.js';
import { assertAll } from '../helpers/bytes.js';

interface RecordedWrite {
  readonly offset: number;
  readonly data: Uint8Array;
  readonly flags: WriteFlags | undefined;
}

/** A device that only records what is asked of it. */
function fakeDevice(size: number, limits: Partial<BlockLimits> = {}): BlockDevice & { writes: RecordedWrite[] } {
  const writes: RecordedWrite[] = [];
  return {
    size,
    limits: { logicalBlockSize: 512, physicalBlockSize: 4096, maxTransfer: 1 << 20, discard: false, writeZeroes: false, readOnly: false, ...limits },
    writes,
    read: async () => {},
    write: async (offset, buf, flags) => {
      // Copy: the caller may reuse its buffer.
      writes.push({ offset, data: buf.slice(), flags });
    },
    flush: async () => {},
    discard: async () => {},
    writeZeroes: async () => {},
  };
}

const MiB = 1 << 20;
const dev = fakeDevice(MiB);

function expectError(fn: () => void, code: string, errno: keyof typeof Errno, message?: RegExp): UcryptError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof UcryptError, `expected a UcryptError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code);
  assert.equal(caught.errno, errno);
  assert.equal(caught.name, 'UcryptError');
  if (message) assert.match(caught.message, message);
  return caught;
}

test('sector constants agree with each other', () => {
  assert.equal(SECTOR_SIZE, 512);
  assert.equal(1 << SECTOR_SHIFT, SECTOR_SIZE);
});

test('checkIo accepts whole blocks inside the device, including ranges that end exactly at the end', () => {
  const ok: [number, number][] = [
    [0, 0],
    [0, 512],
    [0, MiB],
    [512, MiB - 512],
    [MiB - 512, 512],
    [MiB, 0],
    [4096 * 3, 4096 * 5],
  ];
  for (const [offset, length] of ok) {
    assert.doesNotThrow(() => checkIo(dev, 'read', offset, length), `read ${offset}+${length}`);
    assert.doesNotThrow(() => checkIo(dev, 'write', offset, length), `write ${offset}+${length}`);
  }
});

test('checkIo refuses negative offsets and lengths (ERR_BAD_ARGUMENT, EINVAL)', () => {
  expectError(() => checkIo(dev, 'read', -512, 512), 'ERR_BAD_ARGUMENT', 'EINVAL', /read: offset -512 .*non-negative integers/);
  expectError(() => checkIo(dev, 'write', 0, -512), 'ERR_BAD_ARGUMENT', 'EINVAL', /write: .*length -512/);
  expectError(() => checkIo(dev, 'discard', -1, 0), 'ERR_BAD_ARGUMENT', 'EINVAL', /^discard: /);
  // -0 is an integer and equal to 0: harmless, accepted.
  assert.doesNotThrow(() => checkIo(dev, 'read', -0, 512));
});

test('checkIo refuses non-integer and unsafe offsets and lengths (ERR_BAD_ARGUMENT, EINVAL)', () => {
  const bad = [0.5, 512.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 53, Number.MAX_VALUE];
  for (const v of bad) {
    expectError(() => checkIo(dev, 'read', v, 512), 'ERR_BAD_ARGUMENT', 'EINVAL');
    expectError(() => checkIo(dev, 'write-zeroes', 0, v), 'ERR_BAD_ARGUMENT', 'EINVAL');
  }
  // Non-numbers smuggled past the type system are refused too, not coerced.
  expectError(() => checkIo(dev, 'read', '512' as unknown as number, 512), 'ERR_BAD_ARGUMENT', 'EINVAL');
});

test('checkIo refuses ranges past the end of the device (ERR_OUT_OF_RANGE, ENOSPC) with context', () => {
  const cases: [IoOp, number, number][] = [
    ['read', MiB, 512],
    ['write', MiB - 512, 1024],
    ['discard', 0, MiB + 512],
    ['write-zeroes', MiB + 4096, 0],
    ['read', 2 * MiB, 512],
    ['write', Number.MAX_SAFE_INTEGER - 511, 512],
  ];
  for (const [op, offset, length] of cases) {
    const err = expectError(() => checkIo(dev, op, offset, length), 'ERR_OUT_OF_RANGE', 'ENOSPC', new RegExp(`^${op}: range ${offset}\\+${length} is beyond the end of the device \\(${MiB} bytes\\)`));
    assert.equal(Errno[err.errno], 28);
    assert.deepEqual(err.context, { offset, length, size: MiB });
  }
});

test('checkIo refuses offsets and lengths that are not whole logical blocks (ERR_UNALIGNED, EINVAL)', () => {
  const cases: [number, number][] = [
    [256, 512],
    [1, 0],
    [0, 100],
    [512, 513],
    [MiB - 1024, 511],
  ];
  for (const [offset, length] of cases) {
    const err = expectError(() => checkIo(dev, 'write', offset, length), 'ERR_UNALIGNED', 'EINVAL', /logical block size 512/);
    assert.equal(Errno[err.errno], 22);
    assert.deepEqual(err.context, { offset, length, blockSize: 512 });
  }
});

test('checkIo aligns to the device logical block size, not to 512', () => {
  const dev4k = fakeDevice(MiB, { logicalBlockSize: 4096 });
  assert.doesNotThrow(() => checkIo(dev4k, 'read', 4096, 8192));
  assert.doesNotThrow(() => checkIo(dev4k, 'read', MiB - 4096, 4096));
  expectError(() => checkIo(dev4k, 'read', 512, 4096), 'ERR_UNALIGNED', 'EINVAL', /logical block size 4096/);
  expectError(() => checkIo(dev4k, 'read', 4096, 512), 'ERR_UNALIGNED', 'EINVAL', /logical block size 4096/);
  expectError(() => checkIo(dev4k, 'read', MiB, 4096), 'ERR_OUT_OF_RANGE', 'ENOSPC');
});

test('checkIo on a read-only device still allows reads; checkWritable refuses writes (ERR_READ_ONLY, EROFS)', () => {
  const ro = fakeDevice(MiB, { readOnly: true });
  assert.doesNotThrow(() => checkIo(ro, 'read', 0, 4096));
  for (const op of ['write', 'discard', 'write-zeroes'] as const) {
    const err = expectError(() => checkWritable(ro, op), 'ERR_READ_ONLY', 'EROFS', new RegExp(`^${op}: the device is read-only`));
    assert.equal(Errno[err.errno], 30);
  }
  assert.doesNotThrow(() => checkWritable(dev, 'write'));
});

test('writeZeroesByWriting writes zeros over the exact range in bounded chunks and passes flags on', async () => {
  const d = fakeDevice(8 * MiB);
  const offset = 4096 + 512;
  const length = 2 * MiB + MiB / 2 + 512;
  await writeZeroesByWriting(d, offset, length, { fua: true });
  let pos = offset;
  for (const w of d.writes) {
    assert.equal(w.offset, pos, 'writes are contiguous and in order');
    assert.ok(w.data.length > 0 && w.data.length <= MiB, `chunk of ${w.data.length} bytes is bounded by 1 MiB`);
    assertAll(w.data, 0, `chunk at ${w.offset}`);
    assert.deepEqual(w.flags, { fua: true });
    pos += w.data.length;
  }
  assert.equal(pos, offset + length, 'covers the whole range and nothing more');
  assert.equal(d.writes.length, 3);
});

test('writeZeroesByWriting of a small range writes one buffer of that size; of nothing, writes nothing', async () => {
  const d = fakeDevice(MiB);
  await writeZeroesByWriting(d, 1024, 1536);
  assert.equal(d.writes.length, 1);
  assert.equal(d.writes[0]?.offset, 1024);
  assert.equal(d.writes[0]?.data.length, 1536);
  assert.equal(d.writes[0]?.flags, undefined);
  const e = fakeDevice(MiB);
  await writeZeroesByWriting(e, 0, 0);
  assert.equal(e.writes.length, 0);
});
