// Conformance with the real Linux dm-crypt (test/vectors/crypt/kernel-crypt-vectors.json, captured
// by test/kernel/capture-crypt.sh; see test/vectors/crypt/PROVENANCE.md for the format).
//
// Every vector runs through `ucrypt dmsetup` against a registry with `brd rd_nr=1 rd_size=1024`
// (/dev/ram0 = 2048 sectors, 1:0), as in the capture:
//
//   valid:    `dmsetup create cv --table ...` succeeds with the kernel's log lines; `table`,
//             `table --showkeys` and `status` print the kernel's lines; the plaintext written
//             through /dev/mapper/cv lands on /dev/ram0 as the kernel's ciphertext, byte for
//             byte; and the kernel's ciphertext placed on /dev/ram0 reads back as the plaintext.
//   invalid:  the create fails with dmsetup's exit status and stderr and the kernel's
//             device-mapper lines (the refusal reason).
//
// A vector whose cipher or mode is not available fails: nothing is skipped. The only expected
// differences are where ucrypt follows the newer kernel (target 1.29.0) and the captured 6.1
// kernel (target 1.24.0) is older; they are listed in NEWER with the newer behaviour, which is
// then required instead.

import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, cli, logSince } from '../../helpers/cli.js';

interface Vector {
  readonly id: string;
  readonly note: string;
  readonly table: string;
  readonly argv: readonly string[];
  readonly lengthSectors: number;
  readonly offsetSectors: number;
  readonly result: 'valid' | 'invalid';
  readonly dmLines: readonly string[];
  readonly createStderr?: string;
  readonly dmsetupTable?: string;
  readonly dmsetupTableShowkeys?: string;
  readonly dmsetupStatus?: string;
  readonly plaintextLength?: number;
  readonly ciphertextBase64?: string;
  readonly exit?: number;
  readonly stdout?: string;
  readonly stderr?: string;
}

interface VectorFile {
  readonly format: string;
  readonly backingDevice: { readonly sizeSectors: number; readonly devno: string };
  readonly valid: readonly Vector[];
  readonly invalid: readonly Vector[];
}

const FILE = new URL('../../../../test/vectors/crypt/kernel-crypt-vectors.json', import.meta.url);

/** The capture's plaintext: byte i = (i * 31 + (i >> 9) * 7 + 13) & 0xff. */
function plaintext(length: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + (i >> 9) * 7 + 13) & 0xff;
  return b;
}

/** What a newer kernel (and so ucrypt) does instead of the captured 6.1 behaviour. */
interface Newer {
  readonly why: string;
  /** The table is accepted; `showKeys` is its `dmsetup table --showkeys` line. */
  readonly accepted?: { readonly showKeys: string; readonly sameCiphertextAs: string };
  /** Refused with these device-mapper lines and this stderr instead. */
  readonly refused?: { readonly dmLines: readonly string[]; readonly stderr: string };
}

const EINVAL_STDERR = 'device-mapper: reload ioctl on cv (254:0) failed: Invalid argument\nCommand failed.\n';
const KEY_64 = Array.from({ length: 64 }, (_, i) => i.toString(16).padStart(2, '0')).join('');

const NEWER: Record<string, Newer> = {
  '052': {
    why: 'since Linux 6.12 the crypto API passes a template\'s own error up (crypto/algboss.c): essiv refuses a 64-byte salt for AES with -EINVAL; 6.1 reported every failed instantiation as -ENOENT',
    refused: { dmLines: ['device-mapper: table: 254:0: crypt: Error allocating crypto tfm (-EINVAL)', 'device-mapper: ioctl: error adding target to table'], stderr: EINVAL_STDERR },
  },
  '168': {
    why: 'Linux 6.10 (target 1.26.0) raised the feature argument limit from 8 to 9 when it added high_priority',
    accepted: { showKeys: `0 16 crypt aes-xts-plain64 ${KEY_64} 0 1:0 0 5 allow_discards same_cpu_crypt submit_from_crypt_cpus no_read_workqueue no_write_workqueue\n`, sameCiphertextAs: '003' },
  },
  '188': {
    why: 'high_priority exists since Linux 6.10 (target 1.26.0)',
    accepted: { showKeys: `0 16 crypt aes-xts-plain64 ${KEY_64} 0 1:0 0 1 high_priority\n`, sameCiphertextAs: '003' },
  },
  '189': {
    why: 'integrity_key_size:<bytes> exists since target 1.28.0 (Linux 6.12)',
    accepted: { showKeys: `0 16 crypt aes-xts-plain64 ${KEY_64} 0 1:0 0 1 integrity_key_size:32\n`, sameCiphertextAs: '003' },
  },
};

const present = existsSync(FILE);

test('the kernel conformance vectors are present', { skip: present ? false : 'test/vectors/crypt/kernel-crypt-vectors.json not captured yet' }, () => {
  const v = JSON.parse(readFileSync(FILE, 'utf8')) as VectorFile;
  assert.equal(v.format, 'ucrypt-kernel-crypt-vectors/1');
  assert.ok(v.valid.length >= 60, `${v.valid.length} valid vectors`);
  assert.ok(v.invalid.length >= 20, `${v.invalid.length} invalid vectors`);
});

if (present) {
  const v = JSON.parse(readFileSync(FILE, 'utf8')) as VectorFile;
  const byId = new Map([...v.valid, ...v.invalid].map((r) => [r.id, r]));
  const ramBytes = v.backingDevice.sizeSectors * 512;

  /** A fresh registry with one RAM disk like the capture's /dev/ram0. */
  function registry(): Registry {
    const reg = new Registry();
    reg.modprobeBrd({ rd_nr: 1, rd_size: ramBytes / 1024 });
    return reg;
  }

  async function create(reg: Registry, r: Vector): Promise<{ exit: number; stdout: string; stderr: string; dm: string[] }> {
    const mark = reg.dmesg().length;
    const got = await cli(reg, r.argv);
    const dm = logSince(reg, mark).filter((l) => l.startsWith('device-mapper:'));
    return { ...got, dm };
  }

  /** Writes the plaintext through cv and checks /dev/ram0; then the reverse direction. */
  async function checkData(reg: Registry, r: Vector, ciphertext: Buffer): Promise<void> {
    const md = reg.get('cv', 'info');
    const ram = reg.ramDisk(0)!;
    const len = r.lengthSectors * 512;
    const plain = plaintext(len);
    await md.write(0, plain);
    const onDisk = Buffer.alloc(len);
    await ram.read(r.offsetSectors * 512, onDisk);
    const diff = onDisk.findIndex((b, i) => b !== ciphertext[i]);
    assert.equal(diff, -1, `ciphertext on /dev/ram0 differs from the kernel's from byte ${diff} (sector ${Math.floor(diff / 512)})`);
    const rest = Buffer.alloc(ramBytes);
    await ram.read(0, rest);
    rest.fill(0, r.offsetSectors * 512, r.offsetSectors * 512 + len);
    assert.ok(rest.every((b) => b === 0), 'nothing written outside the mapped area');

    // The other direction: the kernel's ciphertext decrypts to the plaintext.
    await ram.write(0, new Uint8Array(ramBytes));
    await ram.write(r.offsetSectors * 512, ciphertext);
    const back = Buffer.alloc(len);
    await md.read(0, back);
    const bdiff = back.findIndex((b, i) => b !== plain[i]);
    assert.equal(bdiff, -1, `the kernel's ciphertext decrypts wrongly from byte ${bdiff} (sector ${Math.floor(bdiff / 512)})`);
  }

  async function checkTables(reg: Registry, showKeys: string, masked: string | undefined, status: string | undefined): Promise<void> {
    const t = await cli(reg, ['dmsetup', 'table', '--showkeys', 'cv']);
    assert.equal(t.stdout, showKeys, 'dmsetup table --showkeys');
    if (masked !== undefined) assert.equal((await cli(reg, ['dmsetup', 'table', 'cv'])).stdout, masked, 'dmsetup table');
    if (status !== undefined) assert.equal((await cli(reg, ['dmsetup', 'status', 'cv'])).stdout, status, 'dmsetup status');
  }

  function label(r: Vector): string {
    return `${r.id} ${r.note}`;
  }

  for (const r of v.valid) {
    test(`kernel vector ${label(r)}`, async () => {
      const reg = registry();
      const c = await create(reg, r);
      assert.equal(c.exit, 0, `dmsetup create must succeed; stderr: ${c.stderr.trim()}; kernel: ${c.dm.join(' / ')}`);
      assert.equal(c.stderr, r.createStderr ?? '');
      assert.deepEqual(c.dm, r.dmLines, 'kernel log of the create');
      await checkTables(reg, r.dmsetupTableShowkeys!, r.dmsetupTable, r.dmsetupStatus);
      await checkData(reg, r, Buffer.from(r.ciphertextBase64!, 'base64'));
      const rm = await cli(reg, ['dmsetup', 'remove', 'cv']);
      assert.equal(rm.exit, 0);
    });
  }

  for (const r of v.invalid) {
    const newer = NEWER[r.id];
    test(`kernel vector ${label(r)}${newer ? ' (newer kernel behaviour)' : ''}`, async () => {
      const reg = registry();
      const c = await create(reg, r);
      if (newer?.accepted) {
        assert.equal(c.exit, 0, `${newer.why}; stderr: ${c.stderr}`);
        const twin = byId.get(newer.accepted.sameCiphertextAs)!;
        assert.equal(twin.result, 'valid');
        await checkTables(reg, newer.accepted.showKeys, undefined, '0 16 crypt \n');
        // The options do not change the encryption: same bytes as the kernel's plain twin.
        await checkData(reg, r, Buffer.from(twin.ciphertextBase64!, 'base64'));
        return;
      }
      const dmLines = newer?.refused?.dmLines ?? r.dmLines;
      const stderr = newer?.refused?.stderr ?? r.stderr;
      assert.equal(c.exit, r.exit, `dmsetup create must fail; kernel said: ${r.dmLines.join(' / ')}`);
      assert.equal(c.stdout, r.stdout ?? '');
      assert.deepEqual(c.dm, dmLines, 'refused with the kernel reason');
      assert.equal(c.stderr, stderr);
      assert.equal(reg.has('cv'), false, 'no device is left behind');
    });
  }
}
