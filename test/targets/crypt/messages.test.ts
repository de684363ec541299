// crypt_message (`key set <key>`, `key wipe`, only while suspended), crypt_preresume (no resume
// without a valid key) and key hygiene: key buffers are zeroed on wipe and when the table goes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from '../../../src/dm/registry.js';
import { UcryptError } from '../../../src/errors.js';
import { cryptKeyBuffers } from '../../../src/targets/crypt/crypt.js';
import type { Target } from '../../../src/dm/target.js';
import { capturePlaintext, khex, mustCtr } from './helpers.js';

const K64 = khex(64);

function registry(): Registry {
  const reg = new Registry();
  reg.modprobeBrd({ rd_nr: 2, rd_size: 8192 });
  return reg;
}

function liveTarget(reg: Registry, name: string): Target {
  const t = reg.get(name, 'info').live?.targets[0]?.target;
  assert.ok(t);
  return t;
}

function logSince(reg: Registry, mark: number): string[] {
  return reg.dmesg().slice(mark).map((l) => l.replace(/^\[[ \d.]+\] /, ''));
}

async function rejectsWith(p: Promise<unknown>, errno: string, message?: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof UcryptError, String(e));
    assert.equal(e.errno, errno);
    if (message !== undefined) assert.equal(e.message, message);
    return true;
  });
}

test('key messages are refused while the device is active', async () => {
  const reg = registry();
  await reg.create('c1', { table: `0 2048 crypt aes-xts-plain64 ${K64} 0 /dev/ram1 0` });
  const mark = reg.dmesg().length;
  await rejectsWith(reg.message('c1', 0, ['key', 'wipe']), 'EINVAL', 'not suspended during key manipulation.');
  await rejectsWith(reg.message('c1', 0, ['KEY', 'set', K64]), 'EINVAL', 'not suspended during key manipulation.');
  assert.deepEqual(logSince(reg, mark), ['device-mapper: crypt: not suspended during key manipulation.', 'device-mapper: crypt: not suspended during key manipulation.']);
  assert.equal(reg.lines('c1', { status: false, showKeys: true })[0], `0 2048 crypt aes-xts-plain64 ${K64} 0 1:1 0`);
  await reg.remove('c1');
});

test('unrecognised messages', async () => {
  const reg = registry();
  await reg.create('c1', { table: `0 2048 crypt aes-xts-plain64 ${K64} 0 /dev/ram1 0` });
  await reg.suspend('c1');
  for (const argv of [['key'], ['hello', 'world'], ['key', 'set'], ['key', 'wipe', 'now'], ['key', 'nosuch']]) {
    await rejectsWith(reg.message('c1', 0, argv), 'EINVAL', 'unrecognised message received.');
  }
  await reg.resume('c1');
  await reg.remove('c1');
});

test('key wipe: the key is gone, resume is refused, key set restores the device', async () => {
  const reg = registry();
  await reg.create('c1', { table: `0 2048 crypt aes-xts-plain64 ${K64} 0 /dev/ram1 0` });
  const md = reg.get('c1', 'info');
  const plain = capturePlaintext(8192);
  await md.write(0, plain);
  await reg.suspend('c1');
  await reg.message('c1', 0, ['key', 'wipe']);
  const t = liveTarget(reg, 'c1');
  for (const b of cryptKeyBuffers(t)) assert.ok(b.every((x) => x === 0), 'key buffers are zero after key wipe');
  // crypt_wipe_key zeroes cc->key, so the table shows a zero key even with --showkeys.
  assert.equal(reg.lines('c1', { status: false, showKeys: true })[0], `0 2048 crypt aes-xts-plain64 ${'0'.repeat(128)} 0 1:1 0`);

  const mark = reg.dmesg().length;
  await rejectsWith(reg.resume('c1'), 'EAGAIN');
  assert.deepEqual(logSince(reg, mark), ['device-mapper: crypt: aborting resume - crypt key is not set.', 'device-mapper: table: 254:0: crypt: preresume failed, error = -11']);
  assert.equal(reg.info('c1').suspended, true);

  // The key size may not change.
  await rejectsWith(reg.message('c1', 0, ['key', 'set', khex(32)]), 'EINVAL');
  await rejectsWith(reg.message('c1', 0, ['key', 'set', `zz${K64.slice(2)}`]), 'EINVAL');
  await rejectsWith(reg.message('c1', 0, ['key', 'set', ':64:logon:foo']), 'ENOKEY');
  await rejectsWith(reg.resume('c1'), 'EAGAIN');

  await reg.message('c1', 0, ['Key', 'SET', K64.toUpperCase()]);
  await reg.resume('c1');
  const back = new Uint8Array(8192);
  await md.read(0, back);
  assert.deepEqual(Buffer.from(back), plain);
  assert.equal(reg.lines('c1', { status: false, showKeys: true })[0], `0 2048 crypt aes-xts-plain64 ${K64} 0 1:1 0`);
  await reg.remove('c1');
});

test('key set with another key of the same size changes the encryption', async () => {
  const reg = registry();
  await reg.create('c1', { table: `0 2048 crypt aes-xts-plain64 ${K64} 0 /dev/ram1 0` });
  const md = reg.get('c1', 'info');
  const plain = capturePlaintext(4096);
  await md.write(0, plain);
  await reg.suspend('c1');
  await reg.message('c1', 0, ['key', 'set', 'ff'.repeat(64)]);
  await reg.resume('c1');
  const back = new Uint8Array(4096);
  await md.read(0, back);
  assert.notDeepEqual(Buffer.from(back), plain);
  await reg.remove('c1');
});

test('key set re-initialises IV secrets (lmk seed, tcw whitening, elephant key)', async () => {
  for (const [spec, key] of [
    ['aes:64-cbc-lmk', khex(1040)],
    ['aes-cbc-tcw', khex(64)],
    ['aes-cbc-elephant', khex(64)],
  ] as const) {
    const reg = registry();
    await reg.create('c', { table: `0 64 crypt ${spec} ${key} 0 /dev/ram1 0` });
    const md = reg.get('c', 'info');
    const plain = capturePlaintext(32768);
    await md.write(0, plain);
    await reg.suspend('c');
    await reg.message('c', 0, ['key', 'wipe']);
    for (const b of cryptKeyBuffers(liveTarget(reg, 'c'))) assert.ok(b.every((x) => x === 0), `${spec}: wiped`);
    await reg.message('c', 0, ['key', 'set', key]);
    await reg.resume('c');
    const back = new Uint8Array(32768);
    await md.read(0, back);
    assert.deepEqual(Buffer.from(back), plain, spec);
    await reg.remove('c');
  }
});

test('key buffers are zero after the table is removed', async () => {
  const reg = registry();
  await reg.create('c1', { table: `0 64 crypt aes:64-cbc-lmk ${khex(1040)} 0 /dev/ram1 0` });
  const t = liveTarget(reg, 'c1');
  const buffers = cryptKeyBuffers(t);
  assert.ok(buffers.length >= 2, 'the key and the lmk seed');
  assert.ok(buffers.some((b) => b.some((x) => x !== 0)), 'keys are set while live');
  await reg.remove('c1');
  for (const b of buffers) assert.ok(b.every((x) => x === 0), 'zero after remove');
});

test('key buffers are zero after close, for every IV generator with secrets', async () => {
  for (const params of [`aes-cbc-tcw ${khex(64)} 0 /dev/ram0 0`, `aes-cbc-elephant ${khex(64)} 0 /dev/ram0 0`, `aes-xts-plain64 ${K64} 0 /dev/ram0 0`]) {
    const t = await mustCtr(params);
    const buffers = cryptKeyBuffers(t);
    t.close?.();
    for (const b of buffers) assert.ok(b.every((x) => x === 0), params.split(' ')[0]);
  }
});

test('a table that fails to load wipes what it decoded', async () => {
  const reg = registry();
  const mark = reg.dmesg().length;
  await assert.rejects(reg.create('bad', { table: `0 64 crypt aes-xts-plain64 ${K64} 0 /dev/nosuch 0` }));
  assert.deepEqual(logSince(reg, mark), ['device-mapper: table: 254:0: crypt: Device lookup failed (-ENODEV)', 'device-mapper: ioctl: error adding target to table']);
  assert.equal(reg.has('bad'), false);
});

test('reload swaps keys: the new table is live after resume, the old one is wiped', async () => {
  const reg = registry();
  await reg.create('c1', { table: `0 64 crypt aes-xts-plain64 ${K64} 0 /dev/ram1 0` });
  const old = liveTarget(reg, 'c1');
  const oldBuffers = cryptKeyBuffers(old);
  await reg.load('c1', `0 64 crypt aes-xts-plain64 ${'ab'.repeat(64)} 0 /dev/ram1 0`);
  await reg.resume('c1');
  for (const b of oldBuffers) assert.ok(b.every((x) => x === 0));
  assert.equal(reg.lines('c1', { status: false, showKeys: true })[0], `0 64 crypt aes-xts-plain64 ${'ab'.repeat(64)} 0 1:1 0`);
  await reg.remove('c1');
});
