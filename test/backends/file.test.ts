// The file backend (src/backends/file/file.ts): a regular file or a real block device as a
// BlockDevice. Everything written is checked by reading the file with node:fs, not only through
// the device itself.

import { after, before, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileDevice } from '../../src/backends/file/file.js';
import type { FileDeviceOptions } from '../../src/backends/file/file.js';
import { UcryptError } from '../../src/errors.js';
import { assertAll, assertBytes, filled, pattern } from '../helpers/bytes.js';

const KiB = 1024;
const MiB = 1 << 20;

let dir = '';
let seq = 0;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ucrypt-file-test-'));
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A new file of `size` bytes, either sparse (zeros) or filled with `content`. */
function makeFile(size: number, content?: Uint8Array): string {
  const path = join(dir, `disk-${++seq}.img`);
  if (content) {
    assert.equal(content.length, size);
    writeFileSync(path, content);
  } else {
    writeFileSync(path, '');
    truncateSync(path, size);
  }
  return path;
}

/** How many of this process's file descriptors are open on `path`. */
function openFds(path: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) n++;
    } catch {
      // The fd used to list the directory is gone by now.
    }
  }
  return n;
}

function isUcrypt(code: string, errno: string, message?: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof UcryptError, `expected a UcryptError ${code}, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.errno, errno);
    if (message) assert.match(err.message, message);
    return true;
  };
}

async function withDevice<T>(path: string, fn: (dev: FileDevice) => Promise<T>, opts: FileDeviceOptions = {}): Promise<T> {
  const dev = await FileDevice.open(path, opts);
  try {
    return await fn(dev);
  } finally {
    await dev.close();
  }
}

test('a missing file is refused with a message naming the path (ERR_NO_DEVICE, ENOENT)', async () => {
  const path = join(dir, 'does-not-exist.img');
  await assert.rejects(FileDevice.open(path), isUcrypt('ERR_NO_DEVICE', 'ENOENT', new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no such file or device`)));
  await assert.rejects(FileDevice.open(path, { readOnly: true }), isUcrypt('ERR_NO_DEVICE', 'ENOENT'));
  // A missing parent directory is the same error.
  await assert.rejects(FileDevice.open(join(dir, 'no-dir', 'x.img')), isUcrypt('ERR_NO_DEVICE', 'ENOENT', /no-dir\/x\.img/));
});

test('a size that is not a positive multiple of 512 is refused, naming path and size (ERR_FILE_SIZE)', async () => {
  for (const size of [1000, 511, 513, 4096 + 1]) {
    const path = makeFile(size);
    await assert.rejects(FileDevice.open(path), isUcrypt('ERR_FILE_SIZE', 'EINVAL', new RegExp(`${path}: size ${size} bytes is not a positive multiple of 512`)));
  }
  const empty = makeFile(0);
  await assert.rejects(FileDevice.open(empty), isUcrypt('ERR_FILE_SIZE', 'EINVAL', /size 0 bytes/));
  assert.equal(openFds(empty), 0, 'no file descriptor leaked by a refused open');
});

test('a directory is refused (ERR_NO_DEVICE)', async () => {
  await assert.rejects(FileDevice.open(dir), isUcrypt('ERR_NO_DEVICE', 'EINVAL', /not a regular file or block device/));
});

test('an opened file reports its size and file-backend limits', async () => {
  const path = makeFile(4 * MiB);
  await withDevice(path, async (dev) => {
    assert.equal(dev.path, path);
    assert.equal(dev.size, 4 * MiB);
    assert.equal(dev.isBlockDevice, false);
    assert.equal(dev.limits.logicalBlockSize, 512);
    assert.equal(dev.limits.physicalBlockSize, 4096);
    assert.equal(dev.limits.discard, false);
    assert.equal(dev.limits.writeZeroes, false);
    assert.equal(dev.limits.readOnly, false);
    assert.ok(dev.limits.maxTransfer >= MiB);
  });
});

test('write/read round trip, checked against the file contents read with node:fs', async () => {
  const base = pattern(2 * MiB, 1);
  const path = makeFile(2 * MiB, base);
  const offset = 3 * 4096 + 1536;
  const data = pattern(5 * 4096 + 512, 2);
  await withDevice(path, async (dev) => {
    await dev.write(offset, data);
    const back = filled(data.length, 0xcc);
    await dev.read(offset, back);
    assertBytes(back, data, 'read through the device');
    await dev.flush();
  });
  const onDisk = readFileSync(path);
  assert.equal(onDisk.length, 2 * MiB, 'file size unchanged');
  assertBytes(onDisk.subarray(0, offset), base.subarray(0, offset), 'bytes before the write');
  assertBytes(onDisk.subarray(offset, offset + data.length), data, 'the write');
  assertBytes(onDisk.subarray(offset + data.length), base.subarray(offset + data.length), 'bytes after the write');
});

test('reads of a sparse file return zeros; large reads and writes (several MiB) round trip', async () => {
  const path = makeFile(8 * MiB);
  await withDevice(path, async (dev) => {
    const zeros = filled(MiB, 0xaa);
    await dev.read(7 * MiB, zeros);
    assertAll(zeros, 0, 'hole');
    const big = pattern(5 * MiB + 512, 3);
    await dev.write(512, big);
    const back = new Uint8Array(big.length);
    await dev.read(512, back);
    assertBytes(back, big);
  });
  assertBytes(readFileSync(path).subarray(512, 512 + 5 * MiB + 512), pattern(5 * MiB + 512, 3), 'on disk');
});

test('writes and reads through views with a byteOffset use the view', async () => {
  const path = makeFile(MiB);
  const backing = pattern(8192, 4);
  const view = backing.subarray(100, 100 + 4096);
  await withDevice(path, async (dev) => {
    await dev.write(4096, view);
    const out = filled(8192, 0x11);
    await dev.read(4096, out.subarray(50, 50 + 4096));
    assertBytes(out.subarray(50, 50 + 4096), view);
    assertAll(out.subarray(0, 50), 0x11);
    assertAll(out.subarray(50 + 4096), 0x11);
  });
  assertBytes(readFileSync(path).subarray(4096, 8192), view);
});

test('the last sector of the file can be written and read; nothing past it', async () => {
  const path = makeFile(MiB);
  await withDevice(path, async (dev) => {
    const last = pattern(512, 5);
    await dev.write(MiB - 512, last);
    const back = new Uint8Array(512);
    await dev.read(MiB - 512, back);
    assertBytes(back, last);
  });
  assertBytes(readFileSync(path).subarray(MiB - 512), pattern(512, 5));
});

test('FUA writes and flush complete and the data is in the file', async () => {
  const path = makeFile(MiB);
  const data = pattern(8 * KiB, 6);
  await withDevice(path, async (dev) => {
    await dev.write(64 * KiB, data, { fua: true });
    assertBytes(readFileSync(path).subarray(64 * KiB, 72 * KiB), data, 'visible right after the FUA write');
    await dev.write(0, data);
    await dev.flush();
    await dev.flush(); // idempotent
  });
  const onDisk = readFileSync(path);
  assertBytes(onDisk.subarray(0, 8 * KiB), data);
  assertBytes(onDisk.subarray(64 * KiB, 72 * KiB), data);
});

test('direct (O_DSYNC) mode reads and writes, with and without FUA', async () => {
  const path = makeFile(MiB);
  const a = pattern(4096, 7);
  const b = pattern(4096 + 512, 8);
  await withDevice(path, async (dev) => {
    assert.equal(dev.limits.readOnly, false);
    await dev.write(0, a);
    await dev.write(8192 + 512, b, { fua: true });
    await dev.flush();
    const back = new Uint8Array(b.length);
    await dev.read(8192 + 512, back);
    assertBytes(back, b);
  }, { direct: true });
  const onDisk = readFileSync(path);
  assertBytes(onDisk.subarray(0, 4096), a);
  assertBytes(onDisk.subarray(8192 + 512, 8192 + 512 + b.length), b);
});

test('a read-only device reads, and refuses writes and writeZeroes with EROFS leaving the file untouched', async () => {
  const content = pattern(MiB, 9);
  const path = makeFile(MiB, content);
  await withDevice(path, async (dev) => {
    assert.equal(dev.limits.readOnly, true);
    const back = new Uint8Array(4096);
    await dev.read(4096, back);
    assertBytes(back, content.subarray(4096, 8192));
    await assert.rejects(dev.write(0, filled(512, 0)), isUcrypt('ERR_READ_ONLY', 'EROFS', /^write: the device is read-only/));
    await assert.rejects(dev.write(0, filled(512, 0), { fua: true }), isUcrypt('ERR_READ_ONLY', 'EROFS'));
    await assert.rejects(dev.writeZeroes(0, 4096), isUcrypt('ERR_READ_ONLY', 'EROFS', /^write-zeroes: /));
    await dev.flush(); // nothing to flush, but not an error
  }, { readOnly: true });
  assertBytes(readFileSync(path), content, 'file untouched');
});

test('out-of-range and unaligned I/O is refused and never extends or changes the file', async () => {
  const content = pattern(MiB, 10);
  const path = makeFile(MiB, content);
  await withDevice(path, async (dev) => {
    await assert.rejects(dev.write(MiB, filled(512, 1)), isUcrypt('ERR_OUT_OF_RANGE', 'ENOSPC'));
    await assert.rejects(dev.write(MiB - 512, filled(1024, 1)), isUcrypt('ERR_OUT_OF_RANGE', 'ENOSPC'));
    await assert.rejects(dev.read(MiB - 512, new Uint8Array(1024)), isUcrypt('ERR_OUT_OF_RANGE', 'ENOSPC'));
    await assert.rejects(dev.writeZeroes(MiB - 512, 1024), isUcrypt('ERR_OUT_OF_RANGE', 'ENOSPC'));
    await assert.rejects(dev.write(100, filled(512, 1)), isUcrypt('ERR_UNALIGNED', 'EINVAL'));
    await assert.rejects(dev.write(0, filled(100, 1)), isUcrypt('ERR_UNALIGNED', 'EINVAL'));
    await assert.rejects(dev.read(-512, new Uint8Array(512)), isUcrypt('ERR_BAD_ARGUMENT', 'EINVAL'));
  });
  assert.equal(statSync(path).size, MiB, 'file not extended');
  assertBytes(readFileSync(path), content, 'file unchanged');
});

test('writeZeroes zeroes exactly the range (larger than one zero buffer), with and without FUA', async () => {
  const content = filled(4 * MiB, 0xff);
  const path = makeFile(4 * MiB, content);
  const offset = 4096 + 512;
  const length = 2 * MiB + 3 * 512;
  await withDevice(path, async (dev) => {
    await dev.writeZeroes(offset, length);
    await dev.writeZeroes(4 * MiB - 1024, 512, { fua: true, noUnmap: true });
    await dev.writeZeroes(0, 0);
    const back = new Uint8Array(length);
    await dev.read(offset, back);
    assertAll(back, 0, 'read through the device');
  });
  const onDisk = readFileSync(path);
  assert.equal(onDisk.length, 4 * MiB);
  assertAll(onDisk.subarray(0, offset), 0xff, 'before the range');
  assertAll(onDisk.subarray(offset, offset + length), 0, 'the range');
  assertAll(onDisk.subarray(offset + length, 4 * MiB - 1024), 0xff, 'after the range');
  assertAll(onDisk.subarray(4 * MiB - 1024, 4 * MiB - 512), 0, 'the FUA range');
  assertAll(onDisk.subarray(4 * MiB - 512), 0xff, 'the last sector');
});

test('discard is not supported (ENOTSUP) and leaves the data; invalid ranges are refused first', async () => {
  const content = pattern(MiB, 11);
  const path = makeFile(MiB, content);
  await withDevice(path, async (dev) => {
    await assert.rejects(dev.discard(0, 4096), isUcrypt('ERR_NOT_SUPPORTED', 'ENOTSUP', new RegExp(`${path}: discard is not supported`)));
    await assert.rejects(dev.discard(MiB, 4096), isUcrypt('ERR_OUT_OF_RANGE', 'ENOSPC'));
    await assert.rejects(dev.discard(10, 4096), isUcrypt('ERR_UNALIGNED', 'EINVAL'));
  });
  assertBytes(readFileSync(path), content);
});

test('close releases the file descriptor, is idempotent, and later I/O fails', async () => {
  const path = makeFile(MiB);
  const dev = await FileDevice.open(path);
  assert.equal(openFds(path), 1, 'one descriptor while open');
  await dev.close();
  assert.equal(openFds(path), 0, 'none after close');
  await dev.close();
  await assert.rejects(dev.read(0, new Uint8Array(512)));
  await assert.rejects(dev.write(0, new Uint8Array(512)));
});

// --- Real block devices (loop devices), root only ---------------------------------------------

function losetupPath(): string | undefined {
  for (const p of ['losetup', '/usr/sbin/losetup', '/sbin/losetup']) {
    const r = spawnSync(p, ['--version'], { encoding: 'utf8' });
    if (!r.error && r.status === 0) return p;
  }
  return undefined;
}

/**
 * Attaches `img` to a free loop device and returns its path, or skips the test (and returns
 * undefined) when the environment cannot: not root, no losetup, or no usable loop devices.
 */
function attachLoop(t: TestContext, img: string, extra: readonly string[] = []): { losetup: string; dev: string } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    t.skip('needs root to attach a loop device');
    return undefined;
  }
  const losetup = losetupPath();
  if (!losetup) {
    t.skip('losetup is not installed');
    return undefined;
  }
  const r = spawnSync(losetup, ['--find', '--show', ...extra, img], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    t.skip(`loop devices are unavailable: ${(r.stderr || String(r.error)).trim()}`);
    return undefined;
  }
  return { losetup, dev: r.stdout.trim() };
}

function detachLoop(losetup: string, dev: string): void {
  const r = spawnSync(losetup, ['--detach', dev], { encoding: 'utf8' });
  assert.equal(r.status, 0, `losetup --detach ${dev}: ${r.stderr}`);
}

test('a real block device (loop device over a 16 MiB file): size, round trip, FUA, flush', async (t) => {
  const img = makeFile(16 * MiB);
  const loop = attachLoop(t, img);
  if (!loop) return;
  try {
    assert.match(loop.dev, /^\/dev\/loop\d+$/);
    const data = pattern(64 * KiB + 512, 12);
    const last = pattern(512, 13);
    await withDevice(loop.dev, async (dev) => {
      assert.equal(dev.isBlockDevice, true);
      assert.equal(dev.size, 16 * MiB, 'size from sysfs, not stat (which says 0)');
      assert.equal(dev.limits.logicalBlockSize, 512);
      await dev.write(MiB + 512, data);
      await dev.write(16 * MiB - 512, last, { fua: true });
      await dev.flush();
      const back = new Uint8Array(data.length);
      await dev.read(MiB + 512, back);
      assertBytes(back, data, 'read back through the block device');
      await assert.rejects(dev.write(16 * MiB, filled(512, 0)), isUcrypt('ERR_OUT_OF_RANGE', 'ENOSPC'));
      await assert.rejects(dev.discard(0, 4096), isUcrypt('ERR_NOT_SUPPORTED', 'ENOTSUP'));
    });
    // Read-only and direct opens of the same device see the data.
    await withDevice(loop.dev, async (dev) => {
      const back = new Uint8Array(512);
      await dev.read(16 * MiB - 512, back);
      assertBytes(back, last);
      await assert.rejects(dev.write(0, filled(512, 0)), isUcrypt('ERR_READ_ONLY', 'EROFS'));
    }, { readOnly: true });
    await withDevice(loop.dev, async (dev) => {
      await dev.write(0, filled(4096, 0x42));
      const back = new Uint8Array(4096);
      await dev.read(0, back);
      assertAll(back, 0x42);
    }, { direct: true });
  } finally {
    detachLoop(loop.losetup, loop.dev);
  }
  // After the flushes and the detach, the backing file holds what was written.
  const onDisk = readFileSync(img);
  assertAll(onDisk.subarray(0, 4096), 0x42, 'direct write');
  assertBytes(onDisk.subarray(MiB + 512, MiB + 512 + 64 * KiB + 512), pattern(64 * KiB + 512, 12), 'data');
  assertBytes(onDisk.subarray(16 * MiB - 512), pattern(512, 13), 'last sector');
});

test('a loop device with 4096-byte logical blocks: the logical block size comes from sysfs and is enforced', async (t) => {
  const img = makeFile(16 * MiB);
  const loop = attachLoop(t, img, ['--sector-size', '4096']);
  if (!loop) return;
  try {
    await withDevice(loop.dev, async (dev) => {
      assert.equal(dev.size, 16 * MiB);
      assert.equal(dev.limits.logicalBlockSize, 4096);
      assert.equal(dev.limits.physicalBlockSize, 4096);
      await assert.rejects(dev.read(512, new Uint8Array(4096)), isUcrypt('ERR_UNALIGNED', 'EINVAL', /logical block size 4096/));
      await assert.rejects(dev.write(0, new Uint8Array(512)), isUcrypt('ERR_UNALIGNED', 'EINVAL'));
      const data = pattern(8192, 14);
      await dev.write(4096, data, { fua: true });
      const back = new Uint8Array(8192);
      await dev.read(4096, back);
      assertBytes(back, data);
    });
  } finally {
    detachLoop(loop.losetup, loop.dev);
  }
  assertBytes(readFileSync(img).subarray(4096, 12288), pattern(8192, 14));
});
