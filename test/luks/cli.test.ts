// `ucrypt cryptsetup` as a device manager: open creates /dev/mapper/NAME with the LUKS table,
// status describes it like cryptsetup, refresh changes flags (and --persistent stores them),
// close removes it; plain mode; refusals and exit codes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Registry, image, keyFile, tempDir, ucs } from './support.js';

const PB = ['--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000'];

test('open, status, refresh, close of a LUKS2 volume; data survives close and reopen', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const img = await image(dir, 'vol.img', 20);
    const k = await keyFile(dir, 'k', 'pw');
    const reg = new Registry();
    assert.equal((await ucs(reg, ['luksFormat', '-q', ...PB, '--sector-size', '4096', '--key-file', k, img])).exit, 0);
    const o = await ucs(reg, ['open', '--key-file', k, '--allow-discards', img, 'vol']);
    assert.equal(o.exit, 0, o.stderr);
    const st = await ucs(reg, ['status', 'vol']);
    assert.equal(st.exit, 0);
    assert.match(st.stdout, /^\/dev\/mapper\/vol is active\.\n {2}type: {4}LUKS2\n {2}cipher: {2}aes-xts-plain64\n {2}keysize: 512 bits\n {2}key location: dm-crypt\n/);
    assert.match(st.stdout, / {2}sector size: {2}4096\n {2}offset: {2}32768 sectors\n {2}size: {4}8192 sectors\n {2}mode: {4}read\/write\n {2}flags: {3}discards\n$/);
    const info = reg.info('vol');
    assert.match(info.uuid, /^CRYPT-LUKS2-[0-9a-f]{32}-vol$/);
    const dev = (await reg.device('/dev/mapper/vol'))!;
    const data = randomBytes(8192);
    await dev.write(4096, data);
    // Busy name, then refresh with other flags; --persistent stores them in the header.
    assert.equal((await ucs(reg, ['open', '--key-file', k, img, 'vol'])).exit, 5);
    const r = await ucs(reg, ['refresh', '--key-file', k, '--perf-no_read_workqueue', '--persistent', 'vol']);
    assert.equal(r.exit, 0, r.stderr);
    assert.match((await ucs(reg, ['status', 'vol'])).stdout, /flags: {3}no_read_workqueue\n/);
    assert.match((await ucs(reg, ['luksDump', img])).stdout, /Flags: {7}\tno-read-workqueue \n/);
    assert.equal((await ucs(reg, ['close', 'vol'])).exit, 0);
    assert.equal((await ucs(reg, ['status', 'vol'])).exit, 4);
    assert.equal((await ucs(reg, ['close', 'vol'])).exit, 4);
    // Reopened read-only: the persistent flag applies, the data is there.
    assert.equal((await ucs(reg, ['open', '--readonly', '--key-file', k, img, 'again'])).exit, 0);
    const st2 = (await ucs(reg, ['status', 'again'])).stdout;
    assert.match(st2, /mode: {4}readonly\n {2}flags: {3}no_read_workqueue\n/);
    const back = new Uint8Array(8192);
    await (await reg.device('/dev/mapper/again'))!.read(4096, back);
    assert.deepEqual(Buffer.from(back), data);
    assert.equal((await ucs(reg, ['close', 'again'])).exit, 0);
  } finally {
    await cleanup();
  }
});

test('open --type plain hashes the passphrase as cryptsetup (ripemd160, rounds prefixed with A)', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const img = await image(dir, 'plain.img', 1);
    const reg = new Registry();
    const o = await ucs(reg, ['open', '--type', 'plain', '--hash', 'sha256', '--key-size', '512', '--cipher', 'aes-xts-plain64', img, 'p'], 'secret\n');
    assert.equal(o.exit, 0, o.stderr);
    const line = reg.lines('p', { status: false, showKeys: true })[0]!;
    const h0 = createHash('sha256').update('secret').digest('hex');
    const h1 = createHash('sha256').update('Asecret').digest('hex');
    assert.match(line, new RegExp(` crypt aes-xts-plain64 ${h0}${h1} 0 `));
    assert.match((await ucs(reg, ['status', 'p'])).stdout, /type: {4}PLAIN/);
    assert.equal((await ucs(reg, ['close', 'p'])).exit, 0);
  } finally {
    await cleanup();
  }
});

test('refusals: not LUKS, missing device, bad options, wrong slot, last keyslot without -q', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const img = await image(dir, 'vol.img', 20);
    const k = await keyFile(dir, 'k', 'pw');
    const reg = new Registry();
    const notLuks = await ucs(reg, ['open', '--key-file', k, img, 'x']);
    assert.equal(notLuks.exit, 1);
    assert.equal(notLuks.stderr, `Device ${img} is not a valid LUKS device.\n`);
    assert.equal((await ucs(reg, ['isLuks', img])).exit, 1);
    assert.equal((await ucs(reg, ['luksDump', `${dir}/missing`])).exit, 4);
    assert.equal((await ucs(reg, ['luksFormat', '-q', '--frobnicate', img])).exit, 1);
    assert.equal((await ucs(reg, ['luksFormat', '-q', '--pbkdf', 'scrypt', '--key-file', k, img])).exit, 1);
    assert.equal((await ucs(reg, ['luksFormat', '-q', '--type', 'luks1', '--pbkdf', 'argon2id', '--key-file', k, img])).exit, 1);
    assert.equal((await ucs(reg, ['luksFormat', '--key-file', k, img])).exit, 1, 'no confirmation without a terminal');
    assert.equal((await ucs(reg, ['luksFormat', '-q', ...PB, '--key-file', k, img])).exit, 0);
    assert.equal((await ucs(reg, ['isLuks', '--type', 'luks1', img])).exit, 1);
    const slot = await ucs(reg, ['open', '--test-passphrase', '--key-slot', '4', '--key-file', k, img]);
    assert.equal(slot.exit, 1);
    assert.equal(slot.stderr, 'No usable keyslot is available.\n');
    assert.equal((await ucs(reg, ['luksKillSlot', img, '0'])).exit, 1, 'the last keyslot needs --batch-mode');
    assert.equal((await ucs(reg, ['open', '--test-passphrase', '--key-file', k, img])).exit, 0);
    assert.equal((await ucs(reg, ['frobnicate'])).exit, 1);
    assert.match((await ucs(reg, ['--help'])).stdout, /luksFormat <device>/);
  } finally {
    await cleanup();
  }
});

test('benchmark prints cryptsetup\'s table for a cipher', async () => {
  const reg = new Registry();
  const r = await ucs(reg, ['benchmark', '--cipher', 'aes-xts-plain64', '--key-size', '512']);
  assert.equal(r.exit, 0, r.stderr);
  assert.match(r.stdout, /^# Tests are approximate using memory only \(no storage IO\)\.\n# {5}Algorithm \| {7}Key \| {6}Encryption \| {6}Decryption\n +aes-xts +512b +[0-9.]+ MiB\/s +[0-9.]+ MiB\/s\n$/);
});
