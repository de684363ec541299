// "An idle 4 GiB RAM disk uses almost no memory and a 64 MiB write costs about 64 MiB."
// Measured in a child process (fixtures/ramdisk-memory.ts, run with --expose-gc) so this test
// runner's own heap does not blur the numbers; the child prints JSON, the assertions are here.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const MiB = 1 << 20;

interface Stats {
  readonly pages: number;
  readonly slabBytes: number;
}

interface Measurement {
  readonly before: number;
  readonly created: number;
  readonly written: number;
  readonly discarded: number;
  readonly idle: Stats;
  readonly full: Stats;
  readonly empty: Stats;
  readonly intact: boolean;
}

const fixture = fileURLToPath(new URL('./fixtures/ramdisk-memory.js', import.meta.url));

test('an idle 4 GiB RAM disk uses almost no memory and a 64 MiB write costs about 64 MiB', { timeout: 20_000 }, async (t) => {
  const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', fixture, '--measure'], { timeout: 18_000, maxBuffer: MiB });
  const m = JSON.parse(stdout.trim()) as Measurement;
  const mib = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;
  t.diagnostic(`rss before ${mib(m.before)}, +${mib(m.created - m.before)} after creating 4 GiB, +${mib(m.written - m.created)} after writing 64 MiB, ${mib(m.discarded)} after discarding`);

  assert.deepEqual(m.idle, { pages: 0, slabBytes: 0 }, 'a new disk holds nothing');
  assert.ok(m.created - m.before < 16 * MiB, `creating a 4 GiB disk grew rss by ${mib(m.created - m.before)} (limit 16 MiB)`);

  assert.deepEqual(m.full, { pages: 64 * 256, slabBytes: 64 * MiB }, '64 MiB of pages in 64 slabs');
  assert.ok(m.intact, 'the data read back is the data written');
  const cost = m.written - m.created;
  assert.ok(cost >= 60 * MiB && cost <= 90 * MiB, `writing 64 MiB grew rss by ${mib(cost)} (expected 60..90 MiB)`);

  assert.deepEqual(m.empty, { pages: 0, slabBytes: 0 }, 'discarding everything releases every slab');
  // Released slabs go back to the system once collected (typically to within ~8 MiB of the
  // baseline); the margin only guards against slabs being kept alive.
  assert.ok(m.discarded - m.before < 32 * MiB, `after discarding, rss is still ${mib(m.discarded - m.before)} above the baseline`);
});
