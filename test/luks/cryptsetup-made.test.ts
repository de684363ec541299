// Volumes made by the real cryptsetup open in ucrypt with the volume key cryptsetup reports,
// ucrypt's luksDump prints what cryptsetup's does, and data written through ucrypt's crypt
// device of such a volume is the ciphertext cryptsetup's table would produce.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv, randomBytes } from 'node:crypto';
import { open as fsOpen } from 'node:fs/promises';
import { openFileIO } from '../../src/luks/file.js';
import { LuksError } from '../../src/luks/errors.js';
import { readHeader, segmentView, unlock } from '../../src/luks/volume.js';
import { Registry, cs, csOk, csVolumeKey, image, keyFile, needCryptsetup, tempDir, ucs } from './support.js';

interface Case {
  readonly type: 'luks1' | 'luks2';
  readonly cipher: string;
  readonly keyBits: number;
  readonly pbkdf: 'pbkdf2' | 'argon2i' | 'argon2id';
  readonly hash?: string;
  readonly sector?: number;
  readonly detached?: boolean;
}

const CASES: Case[] = [
  { type: 'luks2', cipher: 'aes-xts-plain64', keyBits: 512, pbkdf: 'argon2id', sector: 4096 },
  { type: 'luks2', cipher: 'aes-xts-plain64', keyBits: 256, pbkdf: 'argon2i', sector: 512 },
  { type: 'luks2', cipher: 'aes-cbc-essiv:sha256', keyBits: 256, pbkdf: 'pbkdf2', hash: 'sha256', sector: 512 },
  { type: 'luks2', cipher: 'serpent-xts-plain64', keyBits: 512, pbkdf: 'pbkdf2', hash: 'sha512', sector: 4096 },
  { type: 'luks2', cipher: 'twofish-xts-plain64', keyBits: 256, pbkdf: 'argon2id', sector: 512 },
  { type: 'luks2', cipher: 'aes-xts-plain64', keyBits: 512, pbkdf: 'pbkdf2', detached: true },
  { type: 'luks1', cipher: 'aes-xts-plain64', keyBits: 512, pbkdf: 'pbkdf2', hash: 'sha256' },
  { type: 'luks1', cipher: 'aes-xts-plain64', keyBits: 256, pbkdf: 'pbkdf2', hash: 'sha1' },
  { type: 'luks1', cipher: 'aes-cbc-essiv:sha256', keyBits: 256, pbkdf: 'pbkdf2', hash: 'sha256' },
  { type: 'luks1', cipher: 'serpent-xts-plain64', keyBits: 512, pbkdf: 'pbkdf2', hash: 'sha512' },
  { type: 'luks1', cipher: 'twofish-xts-plain64', keyBits: 256, pbkdf: 'pbkdf2', hash: 'ripemd160' },
  { type: 'luks1', cipher: 'aes-xts-plain64', keyBits: 512, pbkdf: 'pbkdf2', detached: true },
];

function kdfArgs(c: Case): string[] {
  if (c.pbkdf === 'pbkdf2') return ['--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', ...(c.hash ? ['--hash', c.hash] : [])];
  return ['--pbkdf', c.pbkdf, '--pbkdf-memory', '64', '--pbkdf-parallel', '1', '--pbkdf-force-iterations', '4'];
}

const enc = new TextEncoder();

for (const c of CASES) {
  const label = `${c.type} ${c.cipher} ${c.keyBits}-bit ${c.pbkdf}${c.hash ? `/${c.hash}` : ''}${c.sector ? ` sector ${c.sector}` : ''}${c.detached ? ' detached header' : ''}`;
  test(`cryptsetup-made ${label}: same volume key in every slot, same luksDump, same ciphertext`, { timeout: 120_000 }, async (t) => {
    if (!needCryptsetup(t)) return;
    const { dir, cleanup } = await tempDir();
    try {
      const img = await image(dir, 'vol.img', c.detached ? 4 : c.type === 'luks2' ? 20 : 6);
      const hdr = c.detached ? `${dir}/hdr.img` : undefined;
      const k1 = await keyFile(dir, 'k1', 'first passphrase');
      const k2 = await keyFile(dir, 'k2', randomBytes(64));
      const k3 = await keyFile(dir, 'k3', 'third');
      const hdrArgs = hdr ? ['--header', hdr] : [];
      const made = cs(['luksFormat', '--batch-mode', '--type', c.type, '--cipher', c.cipher, '--key-size', String(c.keyBits), ...kdfArgs(c), ...(c.sector ? ['--sector-size', String(c.sector)] : []), '--key-file', k1, ...hdrArgs, img]);
      if (made.status !== 0 && /Cannot initialize device-mapper/.test(made.stderr)) {
        // cryptsetup encrypts keyslots with its crypto backend (OpenSSL, then the kernel's
        // AF_ALG); a cipher neither has (serpent, twofish on a kernel without those modules)
        // needs dm-crypt, which this host's kernel lacks. The kernel harness covers these.
        t.skip(`this host's cryptsetup cannot use ${c.cipher} without device-mapper (no kernel cipher module)`);
        return;
      }
      assert.equal(made.status, 0, made.stderr);
      // Several key slots, one of them not the next free.
      csOk(['luksAddKey', '--batch-mode', '--key-file', k1, '--key-slot', '3', ...kdfArgs({ ...c, pbkdf: 'pbkdf2' }), ...hdrArgs, img, k2]);
      csOk(['luksAddKey', '--batch-mode', '--key-file', k1, ...kdfArgs(c), ...hdrArgs, img, k3]);
      const expected = csVolumeKey(img, k1, hdr);

      const hio = await openFileIO(hdr ?? img, false);
      try {
        const h = await readHeader(hio);
        for (const [k, slot] of [[k1, 0], [k2, 3], [k3, 1]] as const) {
          const { readFile } = await import('node:fs/promises');
          const r = await unlock(hio, h, new Uint8Array(await readFile(k)));
          assert.equal(Buffer.from(r.key).toString('hex'), expected, `slot ${slot}`);
          assert.equal(r.slot, slot);
        }
        await assert.rejects(unlock(hio, h, enc.encode('wrong')), (e: unknown) => e instanceof LuksError && e.code === 'ERR_LUKS_NO_KEY' && e.exitCode === 2);
        await assert.rejects(unlock(hio, h, enc.encode('first passphrase'), 3), (e: unknown) => e instanceof LuksError && e.code === 'ERR_LUKS_NO_KEY');

        // luksDump, byte for byte (same path argument, so LUKS1's "for <device>" agrees too).
        const reg = new Registry();
        const ours = await ucs(reg, ['luksDump', hdr ?? img]);
        assert.equal(ours.exit, 0, ours.stderr);
        assert.equal(ours.stdout, csOk(['luksDump', hdr ?? img]));
        const vk = await ucs(reg, ['luksDump', '--dump-volume-key', '--batch-mode', '--key-file', k1, ...hdrArgs, img]);
        assert.equal(vk.stdout, csOk(['luksDump', '--dump-volume-key', '--batch-mode', '--key-file', k1, ...hdrArgs, img]));
        if (c.type === 'luks2') {
          const js = await ucs(reg, ['luksDump', '--dump-json-metadata', hdr ?? img]);
          assert.equal(js.stdout, csOk(['luksDump', '--dump-json-metadata', hdr ?? img]));
        }

        // Data through ucrypt's device, then the ciphertext on disk checked two ways.
        const seg = segmentView(h);
        const opened = await ucs(reg, ['open', '--key-file', k2, ...hdrArgs, img, 'v']);
        assert.equal(opened.exit, 0, opened.stderr);
        const dev = (await reg.device('/dev/mapper/v'))!;
        const data = randomBytes(64 << 10);
        await dev.write(0, data);
        await dev.flush();
        const raw = new Uint8Array(data.length);
        const fh = await fsOpen(img, 'r');
        await fh.read(raw, 0, raw.length, seg.offset);
        await fh.close();
        assert.notDeepEqual(Buffer.from(raw), data, 'data is encrypted on disk');
        const key = Buffer.from(expected, 'hex');
        const ss = seg.sectorSize;
        if (c.cipher === 'aes-xts-plain64') {
          // An independent decryption: OpenSSL XTS, one data unit per sector, IV = 512-byte sector number (LE).
          for (const s of [0, 1, 7]) {
            const iv = Buffer.alloc(16);
            iv.writeUInt32LE((s * ss) / 512, 0);
            const d = createDecipheriv(c.keyBits === 512 ? 'aes-256-xts' : 'aes-128-xts', key, iv);
            const plain = Buffer.concat([d.update(raw.subarray(s * ss, (s + 1) * ss)), d.final()]);
            assert.deepEqual(plain, data.subarray(s * ss, (s + 1) * ss), `sector ${s}`);
          }
        }
        // cryptsetup's table for the volume key (plain dm-crypt, as `cryptsetup open` would load it).
        const sectors = (data.length / 512) | 0;
        await reg.create('p', { table: `0 ${sectors} crypt ${c.cipher} ${expected} 0 ${img} ${seg.offset / 512}${ss !== 512 ? ` 1 sector_size:${ss}` : ''}`, readOnly: true });
        const back = new Uint8Array(data.length);
        await (await reg.device('/dev/mapper/p'))!.read(0, back);
        assert.deepEqual(Buffer.from(back), data);
        await reg.remove('p');
        const closed = await ucs(reg, ['close', 'v']);
        assert.equal(closed.exit, 0, closed.stderr);
      } finally {
        await hio.close();
      }
    } finally {
      await cleanup();
    }
  });
}
