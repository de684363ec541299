// LUKS with the real kernel (test/kernel harness; UCRYPT_KERNEL_TESTS=1, set by scripts/test.sh
// as root), one VM boot (test/luks/kernel-job.sh):
//   ucrypt -> kernel: the kernel's cryptsetup and dm-crypt open a ucrypt-made LUKS2 volume and
//     read the files of the ext4 ucrypt wrote into it;
//   kernel -> ucrypt: the kernel writes an ext4 into a cryptsetup-made LUKS2 volume and adds a
//     file; ucrypt opens the volume and the file is there (read with debugfs, no mount);
//   serpent and twofish volumes, which this host's cryptsetup cannot make without dm-crypt, are
//     made by the guest's cryptsetup: ucrypt finds the same volume key and reads the data.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openFileIO } from '../../src/luks/file.js';
import { readHeader, unlock } from '../../src/luks/volume.js';
import { Registry, csOk, image, keyFile, needCryptsetup, tempDir, ucs } from './support.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const live = process.env['UCRYPT_KERNEL_TESTS'] === '1';
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

test('LUKS with the live kernel: ucrypt -> kernel, kernel -> ucrypt, guest-made serpent/twofish', { skip: live ? false : 'UCRYPT_KERNEL_TESTS=1 not set (scripts/test.sh sets the kernel harness up as root)', timeout: 20 * 60_000 }, async (t) => {
  if (!needCryptsetup(t)) return;
  const { dir, cleanup } = await tempDir();
  let ok = false;
  try {
    const key = await keyFile(dir, 'key', 'kernel interop passphrase');
    const files = join(dir, 'files');
    await mkdir(files);
    const hello = 'hello from ucrypt\n';
    const data = randomBytes(1 << 20);
    await writeFile(join(files, 'hello.txt'), hello);
    await writeFile(join(files, 'data.bin'), data);
    const fs = join(dir, 'fs.img');
    execFileSync('mkfs.ext4', ['-q', '-F', '-b', '4096', '-d', files, fs, '8M']);
    const fsBytes = await readFile(fs);
    await writeFile(join(dir, 'pattern.bin'), randomBytes(1 << 20));

    // ucrypt makes a LUKS2 volume and writes the ext4 through its crypt device.
    const reg = new Registry();
    const u2k = await image(dir, 'u2k.img', 24);
    const fmt = await ucs(reg, ['luksFormat', '-q', '--pbkdf', 'argon2id', '--pbkdf-memory', '1024', '--pbkdf-parallel', '1', '--pbkdf-force-iterations', '4', '--key-file', key, u2k]);
    assert.equal(fmt.exit, 0, fmt.stderr);
    assert.equal((await ucs(reg, ['open', '--key-file', key, u2k, 'u'])).exit, 0);
    const dev = (await reg.device('/dev/mapper/u'))!;
    await dev.write(0, fsBytes);
    await dev.flush();
    assert.equal((await ucs(reg, ['close', 'u'])).exit, 0);

    const k2u = await image(dir, 'k2u.img', 24);
    csOk(['luksFormat', '--batch-mode', '--type', 'luks2', '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', '--key-file', key, k2u]);

    await new Promise<void>((resolve, reject) => {
      execFile('bash', [join(REPO, 'test/kernel/run.sh'), join(REPO, 'test/luks/kernel-job.sh'), dir], { env: { ...process.env, UCRYPT_KERNEL_TIMEOUT: '900' }, maxBuffer: 64 << 20 }, (err, stdout, stderr) => (err ? reject(new Error(`run.sh failed: ${String(err)}\n${stdout}\n${stderr}`)) : resolve()));
    });
    const out = join(dir, 'out');
    const read = (f: string): Promise<string> => readFile(join(out, f), 'utf8').catch(() => `(missing ${f})`);

    // ucrypt -> kernel
    assert.equal(await read('u2k.hello'), hello, `kernel reads ucrypt's ext4: ${await read('u2k.log')}`);
    assert.equal((await read('u2k.data.sha256')).trim(), sha256(data));
    assert.match(await read('u2k.status'), /type: +LUKS2/);
    assert.match(await read('u2k.dump'), /^LUKS header information\nVersion: +\t2/);

    // kernel -> ucrypt
    assert.equal((await read('k2u.done')).trim(), 'ok', await read('k2u.log'));
    const k2uOut = join(out, 'k2u.img');
    assert.equal((await ucs(reg, ['open', '--readonly', '--key-file', key, k2uOut, 'k'])).exit, 0);
    const plain = new Uint8Array(8 << 20);
    await (await reg.device('/dev/mapper/k'))!.read(0, plain);
    assert.equal((await ucs(reg, ['close', 'k'])).exit, 0);
    const dec = join(dir, 'dec.img');
    await writeFile(dec, plain);
    const cat = (p: string): string => execFileSync('debugfs', ['-R', `cat ${p}`, dec], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.equal(cat('/kernel.txt'), 'written by the kernel\n');
    assert.equal(cat('/hello.txt'), hello);

    // Guest-made serpent/twofish volumes.
    const pattern = await readFile(join(dir, 'pattern.bin'));
    let checked = 0;
    for (const c of ['serpent-xts-plain64', 'twofish-xts-plain64', 'serpent-cbc-essiv:sha256']) {
      for (const type of ['luks1', 'luks2']) {
        const n = `${c}-${type}`.replace(':', '_');
        const img = join(out, `${n}.img`);
        assert.ok(existsSync(img), `${n}: ${await read(`${n}.log`)}`);
        const vk = (/MK dump:\t([\s\S]*)$/.exec(await read(`${n}.vk`))?.[1] ?? '').replace(/\s+/g, '');
        const io = await openFileIO(img, false);
        const h = await readHeader(io);
        const r = await unlock(io, h, new Uint8Array(await readFile(key)));
        await io.close();
        assert.equal(Buffer.from(r.key).toString('hex'), vk, `${n}: same volume key`);
        assert.equal((await ucs(reg, ['open', '--readonly', '--key-file', key, img, 'g'])).exit, 0);
        const back = new Uint8Array(pattern.length);
        await (await reg.device('/dev/mapper/g'))!.read(0, back);
        assert.equal((await ucs(reg, ['close', 'g'])).exit, 0);
        assert.equal(sha256(back), sha256(pattern), `${n}: the kernel's data`);
        checked++;
      }
    }
    assert.equal(checked, 6);
    ok = true;
  } finally {
    if (ok || process.env['UCRYPT_INTEROP_KEEP'] !== '1') await cleanup();
  }
});
