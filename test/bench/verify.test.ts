import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VerifyError, checkVerifyBlock, crc32c, fillVerifyBlock } from '../../src/bench/verify.js';

test('crc32c check value', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(0)), 0);
  const big = Buffer.alloc(4099, 0x5a);
  let slow = ~0 >>> 0;
  for (const byte of big) {
    slow ^= byte;
    for (let k = 0; k < 8; k++) slow = slow & 1 ? (slow >>> 1) ^ 0x82f63b78 : slow >>> 1;
  }
  assert.equal(crc32c(big), ~slow >>> 0);
});

test('verify blocks round-trip and every corruption is caught', () => {
  const buf = new Uint8Array(4096);
  fillVerifyBlock(buf, 8192, 1, 7);
  checkVerifyBlock(buf, 8192, '/dev/x');
  assert.throws(() => checkVerifyBlock(buf, 4096, '/dev/x'), /bad header offset 8192, wanted 4096/);
  const bad = buf.slice();
  bad[1000]! ^= 1;
  assert.throws(() => checkVerifyBlock(bad, 8192, '/dev/x'), (e: unknown) => e instanceof VerifyError && e.errno === 84 && /crc32c: verify failed at file \/dev\/x offset 8192/.test(e.message));
  assert.throws(() => checkVerifyBlock(new Uint8Array(4096), 0, '/dev/x'), /bad magic header 0, wanted acca/);
});
