// Volumes made and changed by `ucrypt cryptsetup` pass the real cryptsetup: luksDump accepts
// them and prints what ours prints, `open --test-passphrase` opens every slot, and the volume
// key is the same on both sides after every change.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, cs, csOk, csVolumeKey, image, keyFile, needCryptsetup, tempDir, ucs } from './support.js';

interface Case {
  readonly type: 'luks1' | 'luks2';
  readonly cipher: string;
  readonly keyBits: number;
  readonly kdf: string[];
  readonly extra?: string[];
}

const PB = ['--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000'];
const A2ID = ['--pbkdf', 'argon2id', '--pbkdf-memory', '64', '--pbkdf-parallel', '1', '--pbkdf-force-iterations', '4'];
const A2I = ['--pbkdf', 'argon2i', '--pbkdf-memory', '128', '--pbkdf-parallel', '2', '--pbkdf-force-iterations', '4'];

const CASES: Case[] = [
  { type: 'luks2', cipher: 'aes-xts-plain64', keyBits: 512, kdf: A2ID, extra: ['--label', 'data', '--subsystem', 'sub'] },
  { type: 'luks2', cipher: 'aes-xts-plain64', keyBits: 256, kdf: A2I, extra: ['--sector-size', '512'] },
  { type: 'luks2', cipher: 'aes-cbc-essiv:sha256', keyBits: 256, kdf: [...PB, '--hash', 'sha512'], extra: ['--uuid', '12345678-1234-4234-8234-123456789abc'] },
  { type: 'luks1', cipher: 'aes-xts-plain64', keyBits: 512, kdf: PB },
  { type: 'luks1', cipher: 'aes-cbc-essiv:sha256', keyBits: 256, kdf: [...PB, '--hash', 'sha1'] },
];

for (const c of CASES) {
  test(`ucrypt-made ${c.type} ${c.cipher} ${c.keyBits}-bit ${c.kdf[1]}: cryptsetup agrees after format, add, change, remove, kill`, { timeout: 180_000 }, async (t) => {
    if (!needCryptsetup(t)) return;
    const { dir, cleanup } = await tempDir();
    try {
      const img = await image(dir, 'vol.img', c.type === 'luks2' ? 20 : 6);
      const k1 = await keyFile(dir, 'k1', 'one');
      const k2 = await keyFile(dir, 'k2', 'two\nwith a newline');
      const k3 = await keyFile(dir, 'k3', 'three');
      const k4 = await keyFile(dir, 'k4', 'four');
      const reg = new Registry();
      const run = async (args: string[]): Promise<void> => {
        const r = await ucs(reg, args);
        assert.equal(r.exit, 0, `ucrypt cryptsetup ${args.join(' ')}: ${r.stderr}`);
      };
      let key = '';
      const agree = async (slots: [string, number][], gone: string[]): Promise<void> => {
        const dump = csOk(['luksDump', img]);
        assert.equal((await ucs(reg, ['luksDump', img])).stdout, dump, 'luksDump output');
        for (const [k, slot] of slots) {
          const r = cs(['open', '--test-passphrase', '--key-file', k, '--key-slot', String(slot), img]);
          assert.equal(r.status, 0, `cryptsetup opens slot ${slot}: ${r.stderr}`);
        }
        for (const k of gone) {
          const r = cs(['open', '--test-passphrase', '--key-file', k, img]);
          assert.equal(r.status, 2, 'a removed passphrase no longer opens');
          assert.match(r.stderr, /No key available with this passphrase/);
        }
        const vk = csVolumeKey(img, slots[0]![0]);
        const ours = await ucs(reg, ['luksDump', '--dump-volume-key', '--batch-mode', '--key-file', slots[0]![0], img]);
        assert.equal(ours.stdout, csOk(['luksDump', '--dump-volume-key', '--batch-mode', '--key-file', slots[0]![0], img]));
        if (key === '') key = vk;
        assert.equal(vk, key, 'the volume key never changes');
        if (c.type === 'luks2') assert.equal((await ucs(reg, ['luksDump', '--dump-json-metadata', img])).stdout, csOk(['luksDump', '--dump-json-metadata', img]));
      };
      await run(['luksFormat', '--batch-mode', '--type', c.type, '--cipher', c.cipher, '--key-size', String(c.keyBits), ...c.kdf, ...(c.extra ?? []), '--key-file', k1, img]);
      await agree([[k1, 0]], []);
      await run(['luksAddKey', '--key-file', k1, ...c.kdf, img, k2]);
      await run(['luksAddKey', '--key-file', k2, '--key-slot', '5', ...PB, img, k3]);
      await agree([[k1, 0], [k2, 1], [k3, 5]], []);
      await run(['luksChangeKey', '--key-file', k2, ...c.kdf, img, k4]);
      // As cryptsetup: LUKS1 moves the passphrase to the first free slot, LUKS2 keeps the slot id.
      const moved = c.type === 'luks1' ? 2 : 1;
      await agree([[k1, 0], [k4, moved], [k3, 5]], [k2]);
      await run(['luksRemoveKey', img, k1]);
      await agree([[k4, moved], [k3, 5]], [k1]);
      await run(['luksKillSlot', '--key-file', k3, img, String(moved)]);
      await agree([[k3, 5]], [k4]);
      // cryptsetup changes it, ucrypt still opens it.
      csOk(['luksAddKey', '--batch-mode', '--key-file', k3, ...PB, img, k1]);
      const r = await ucs(reg, ['open', '--test-passphrase', '--verbose', '--key-file', k1, img]);
      assert.equal(r.exit, 0, r.stderr);
      assert.match(r.stdout, /Key slot 0 unlocked\./);
      assert.equal((await ucs(reg, ['luksUUID', img])).stdout, csOk(['luksUUID', img]));
      assert.equal((await ucs(reg, ['isLuks', '--type', c.type, img])).exit, 0);
    } finally {
      await cleanup();
    }
  });
}

test('wrong passphrases: cryptsetup message and exit code 2, never a crash', async (t) => {
  if (!needCryptsetup(t)) return;
  const { dir, cleanup } = await tempDir();
  try {
    const img = await image(dir, 'vol.img', 20);
    const k1 = await keyFile(dir, 'k1', 'right');
    const bad = await keyFile(dir, 'bad', 'wrong');
    const reg = new Registry();
    assert.equal((await ucs(reg, ['luksFormat', '-q', ...PB, '--key-file', k1, img])).exit, 0);
    for (const args of [['open', '--test-passphrase', '--key-file', bad, img], ['open', '--key-file', bad, img, 'x'], ['luksAddKey', '--key-file', bad, img, k1], ['luksDump', '--dump-volume-key', '-q', '--key-file', bad, img], ['luksRemoveKey', img, bad], ['luksChangeKey', '--key-file', bad, img, k1]]) {
      const r = await ucs(reg, args);
      const theirs = cs(args[0] === 'open' && args[1] !== '--test-passphrase' ? ['open', '--test-passphrase', '--key-file', bad, img] : args);
      assert.equal(r.exit, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr, args[0] === 'luksAddKey' ? '' : 'No key available with this passphrase.\n');
      assert.equal(theirs.status, 2);
      assert.equal(theirs.stderr, r.stderr);
    }
    // Passphrase from standard input (one line), as cryptsetup reads a non-terminal stdin.
    assert.equal((await ucs(reg, ['open', '--test-passphrase', img], 'right\n')).exit, 0);
    assert.equal((await ucs(reg, ['open', '--test-passphrase', img], 'wrong\n')).exit, 2);
    // --key-file - reads all of stdin, newline included.
    assert.equal((await ucs(reg, ['open', '--test-passphrase', '--key-file', '-', img], 'right')).exit, 0);
    assert.equal((await ucs(reg, ['open', '--test-passphrase', '--key-file', '-', img], 'right\n')).exit, 2);
    assert.equal((await ucs(reg, ['isLuks', k1])).exit, 1);
    assert.equal(cs(['isLuks', k1]).status, 1);
  } finally {
    await cleanup();
  }
});
