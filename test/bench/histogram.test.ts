import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LatencyHistogram, PLAT_NR, platIdxToVal, platValToIdx } from '../../src/bench/histogram.js';

test('buckets follow fio plat_val_to_idx / plat_idx_to_val', () => {
  for (let v = 0; v < 128; v++) assert.equal(platIdxToVal(platValToIdx(v)), v);
  assert.equal(platValToIdx(490), 250);
  assert.equal(platIdxToVal(250), 490);
  // Every value lands in a bucket whose midpoint is within 1/64 of it.
  for (const v of [1000, 4095, 4096, 4097, 123456, 987654321, 2 ** 33]) {
    const m = platIdxToVal(platValToIdx(v));
    assert.ok(Math.abs(m - v) / v <= 1 / 64, `${v} -> ${m}`);
  }
  assert.equal(platValToIdx(2 ** 60), PLAT_NR - 1);
});

test('percentiles, mean and stdev', () => {
  const h = new LatencyHistogram();
  for (let i = 1; i <= 1000; i++) h.add(i * 1000);
  const p = h.percentiles([1, 50, 99, 100]);
  assert.ok(Math.abs(p[0]! - 10000) / 10000 < 0.02, String(p[0]));
  assert.ok(Math.abs(p[1]! - 500000) / 500000 < 0.02, String(p[1]));
  assert.ok(Math.abs(p[2]! - 990000) / 990000 < 0.02, String(p[2]));
  assert.equal(h.stat.n, 1000);
  assert.equal(h.stat.min, 1000);
  assert.equal(h.stat.max, 1000000);
  assert.ok(Math.abs(h.stat.mean - 500500) < 1e-6);
  assert.ok(Math.abs(h.stat.stddev - 288819.436) < 0.01);
  const o = new LatencyHistogram();
  o.add(5);
  h.merge(o);
  assert.equal(h.stat.n, 1001);
  assert.equal(h.stat.min, 5);
  const b = h.latencyBuckets();
  assert.ok(Math.abs(b.nsec.reduce((a, x) => a + x, 0) + b.usec.reduce((a, x) => a + x, 0) + b.msec.reduce((a, x) => a + x, 0) - 100) < 1e-9);
});
