// Interoperability with real NBD clients against the real daemon (`ucrypt daemon --background
// --listen ...`): nbdinfo, nbdcopy, qemu-img, qemu-io, fio's nbd engine, nbdfuse + ext4, TLS with
// certtool certificates and psktool keys. scripts/test.sh installs the tools and sets
// UCRYPT_NBD_TOOLS=1, which turns a missing tool into a failure; otherwise such tests skip.

import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cleanupRuntime, tempRuntime, ucrypt } from '../helpers/proc.js';

const REQUIRED = process.env['UCRYPT_NBD_TOOLS'] === '1';
const MiB = 1 << 20;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: readonly string[], timeout = 120000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout, maxBuffer: 64 * MiB }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

function which(tool: string): boolean {
  return ['/usr/bin', '/usr/sbin', '/bin', '/sbin', '/usr/local/bin'].some((d) => existsSync(join(d, tool)));
}

/** True when every tool exists; otherwise skips (or fails under UCRYPT_NBD_TOOLS=1). */
function need(t: TestContext, ...tools: string[]): boolean {
  const missing = tools.filter((x) => !which(x));
  if (missing.length === 0) return true;
  assert.ok(!REQUIRED, `UCRYPT_NBD_TOOLS=1 but ${missing.join(', ')} not installed`);
  t.skip(`${missing.join(', ')} not installed (scripts/test.sh installs libnbd-bin qemu-utils fio fuse3 e2fsprogs nbdkit gnutls-bin)`);
  return false;
}

async function ok(r: Promise<Run>, what: string): Promise<Run> {
  const x = await r;
  assert.equal(x.code, 0, `${what}: ${x.stderr}${x.stdout}`);
  return x;
}

interface Daemon {
  dir: string;
  sock: string;
  cli(args: string[]): Promise<string>;
  uri(name: string): Promise<string>;
  stop(): Promise<void>;
}

async function daemon(extra: string[] = []): Promise<Daemon> {
  const dir = await tempRuntime();
  const bg = await ucrypt(dir, ['daemon', '--background', ...extra]);
  assert.equal(bg.exit, 0, bg.stderr);
  const cli = async (args: string[]): Promise<string> => {
    const r = await ucrypt(dir, args);
    assert.equal(r.exit, 0, `ucrypt ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  await cli(['modprobe', 'brd', 'rd_nr=2', `rd_size=${64 * 1024}`]);
  return {
    dir,
    sock: join(dir, 'nbd.sock'),
    cli,
    uri: async (name) => (await cli(['nbd-uri', name])).trim(),
    stop: async () => {
      await ucrypt(dir, ['daemon', '--stop']);
      await cleanupRuntime(dir);
    },
  };
}

/** A crypt device over ram1 when the crypt target works here, else a linear one. */
async function dataDevice(d: Daemon, name: string, sectors: number): Promise<string> {
  const key = randomBytes(64).toString('hex');
  const r = await ucrypt(d.dir, ['dmsetup', 'create', name, '--table', `0 ${sectors} crypt aes-xts-plain64 ${key} 0 /dev/ram1 0`]);
  if (r.exit === 0) return 'crypt';
  process.stderr.write(`crypt unavailable (${r.stderr.trim()}); using linear\n`);
  await d.cli(['dmsetup', 'create', name, '--table', `0 ${sectors} linear /dev/ram1 0`]);
  return 'linear';
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

test('nbd-uri: unix by default, TCP when listening on TCP; unknown exports are an error', async () => {
  const d = await daemon(['--listen', 'tcp:127.0.0.1:0']);
  try {
    assert.match(await d.uri('ram0'), /^nbd:\/\/127\.0\.0\.1:\d+\/ram0$/);
    const r = await ucrypt(d.dir, ['nbd-uri', 'nope']);
    assert.equal(r.exit, 1);
    assert.match(r.stderr, /no such export/);
  } finally {
    await d.stop();
  }
  const u = await daemon();
  try {
    assert.equal(await u.uri('ram1'), `nbd+unix:///ram1?socket=${u.sock}`);
  } finally {
    await u.stop();
  }
});

test('nbdinfo --json and --list: size, flags, block sizes, exports', async (t) => {
  if (!need(t, 'nbdinfo')) return;
  const d = await daemon(['--listen', 'tcp:127.0.0.1:0']);
  try {
    await d.cli(['dmsetup', 'create', 'lin', '--table', '0 4096 linear /dev/ram1 0']);
    await d.cli(['dmsetup', 'create', 'ro', '--readonly', '--table', '0 2048 linear /dev/ram0 0']);
    for (const uri of [await d.uri('ram0'), `nbd+unix:///ram0?socket=${d.sock}`]) {
      const j = JSON.parse((await ok(run('nbdinfo', ['--json', uri]), 'nbdinfo')).stdout) as { protocol: string; structured: boolean; exports: Record<string, unknown>[] };
      assert.equal(j.protocol, 'newstyle-fixed');
      assert.equal(j.structured, true);
      const e = j.exports[0]!;
      assert.equal(e['export-name'], 'ram0');
      assert.equal(e['export-size'], 64 * MiB);
      assert.equal(e['description'], 'RAM disk /dev/ram0');
      assert.deepEqual([e['block_size_minimum'], e['block_size_preferred'], e['block_size_maximum']], [512, 4096, 32 * MiB]);
      for (const f of ['can_flush', 'can_fua', 'can_trim', 'can_zero', 'can_fast_zero', 'can_cache', 'can_multi_conn']) assert.equal(e[f], true, f);
      assert.equal(e['is_read_only'], false);
      assert.deepEqual(e['contexts'], ['base:allocation']);
    }
    const ro = JSON.parse((await ok(run('nbdinfo', ['--json', await d.uri('ro')]), 'nbdinfo ro')).stdout) as { exports: Record<string, unknown>[] };
    assert.equal(ro.exports[0]!['is_read_only'], true);
    assert.equal(ro.exports[0]!['can_trim'], false);
    assert.equal(ro.exports[0]!['export-size'], MiB);
    const list = (await ok(run('nbdinfo', ['--list', `nbd+unix:///?socket=${d.sock}`]), 'nbdinfo --list')).stdout;
    for (const n of ['ram0', 'ram1', 'lin', 'ro']) assert.match(list, new RegExp(`export="${n}"`));
    assert.match(list, /description: device-mapper device \/dev\/mapper\/lin/);
    // A crypt device with 4 KiB sectors advertises a 4 KiB minimum block.
    const key = randomBytes(32).toString('hex');
    const c = await ucrypt(d.dir, ['dmsetup', 'create', 'c4k', '--table', `0 8192 crypt aes-xts-plain64 ${key} 0 /dev/ram1 8192 1 sector_size:4096`]);
    if (c.exit === 0) {
      const j = JSON.parse((await ok(run('nbdinfo', ['--json', await d.uri('c4k')]), 'nbdinfo c4k')).stdout) as { exports: Record<string, unknown>[] };
      assert.equal(j.exports[0]!['block_size_minimum'], 4096);
    }
    // The block status map of a RAM disk: holes until written.
    const map = (await ok(run('nbdinfo', ['--map', await d.uri('ram1')]), 'nbdinfo --map')).stdout;
    assert.match(map, /hole,zero/);
  } finally {
    await d.stop();
  }
});

test('nbdcopy round-trips a random image (crypt when available, else linear)', async (t) => {
  if (!need(t, 'nbdcopy')) return;
  const d = await daemon();
  const work = join(d.dir, '..', 'img');
  await mkdir(work, { recursive: true });
  try {
    const kind = await dataDevice(d, 'data', (32 * MiB) / 512);
    t.diagnostic(`through a ${kind} device`);
    const img = randomBytes(32 * MiB);
    await writeFile(join(work, 'in.img'), img);
    const uri = await d.uri('data');
    await ok(run('nbdcopy', [join(work, 'in.img'), uri]), 'nbdcopy in');
    await ok(run('nbdcopy', [uri, join(work, 'out.img')]), 'nbdcopy out');
    assert.equal(sha(await readFile(join(work, 'out.img'))), sha(img));
    // Multi-connection, sparse-aware copy out of a RAM disk export.
    await ok(run('nbdcopy', ['--connections=4', uri, await d.uri('ram0')]), 'nbdcopy export to export');
    await ok(run('nbdcopy', [await d.uri('ram0'), join(work, 'out2.img')]), 'nbdcopy out 2');
    const out2 = await readFile(join(work, 'out2.img'));
    assert.equal(sha(out2.subarray(0, 32 * MiB)), sha(img));
    assert.ok(out2.subarray(32 * MiB).every((x) => x === 0));
  } finally {
    await d.stop();
  }
});

test('qemu-img convert/compare and qemu-io read/write patterns', async (t) => {
  if (!need(t, 'qemu-img', 'qemu-io')) return;
  const d = await daemon();
  const work = join(d.dir, '..', 'img');
  await mkdir(work, { recursive: true });
  try {
    await dataDevice(d, 'q', (16 * MiB) / 512);
    const uri = await d.uri('q');
    const img = randomBytes(16 * MiB);
    await writeFile(join(work, 'in.img'), img);
    await ok(run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', join(work, 'in.img'), uri]), 'qemu-img convert');
    await ok(run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', join(work, 'in.img'), uri]), 'qemu-img compare');
    await ok(run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri, join(work, 'out.img')]), 'qemu-img convert out');
    assert.equal(sha(await readFile(join(work, 'out.img'))), sha(img));
    const io = await ok(run('qemu-io', ['-f', 'raw',
      '-c', 'write -P 0xab 0 1M', '-c', 'write -P 0xcd 1M 4k', '-c', 'write -z 2M 64k', '-c', 'flush',
      '-c', 'read -P 0xab 0 1M', '-c', 'read -P 0xcd 1M 4k', '-c', 'read -P 0 2M 64k', '-c', 'discard 4M 64k',
      '-c', 'aio_write -P 0x11 5M 64k', '-c', 'aio_write -P 0x22 6M 64k', '-c', 'aio_flush', '-c', 'read -P 0x11 5M 64k', '-c', 'read -P 0x22 6M 64k',
      uri]), 'qemu-io');
    assert.doesNotMatch(io.stdout + io.stderr, /Pattern verification failed|error/i);
    const bad = await run('qemu-io', ['-f', 'raw', '-c', 'read -P 0xee 0 4k', uri]);
    assert.match(bad.stdout + bad.stderr, /Pattern verification failed/, 'qemu-io really checks patterns');
  } finally {
    await d.stop();
  }
});

test('fio --ioengine=nbd: randrw, verify=crc32c, iodepth 32, two jobs', async (t) => {
  if (!need(t, 'fio')) return;
  const d = await daemon();
  try {
    const r = await ok(run('fio', ['--name=verify', '--ioengine=nbd', `--uri=${await d.uri('ram0')}`, '--rw=randrw', '--bs=4k', '--iodepth=32', '--numjobs=2',
      '--size=16m', '--offset_increment=16m', '--verify=crc32c', '--do_verify=1', '--verify_fatal=1', '--verify_state_save=0', '--group_reporting', '--output-format=json'], 300000), 'fio');
    const j = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as { jobs: { error: number; read: { io_bytes: number }; write: { io_bytes: number } }[] };
    assert.equal(j.jobs[0]!.error, 0);
    assert.ok(j.jobs[0]!.write.io_bytes > 0 && j.jobs[0]!.read.io_bytes > 0);
  } finally {
    await d.stop();
  }
});

test('nbdfuse: mkfs.ext4, loop mount, fill, umount, fsck -fn clean, remount with identical contents', async (t) => {
  if (!need(t, 'nbdfuse', 'mkfs.ext4', 'fsck.ext4', 'mount', 'umount', 'fusermount3')) return;
  if (process.getuid?.() !== 0 || !existsSync('/dev/fuse') || !existsSync('/dev/loop-control')) {
    t.skip('needs root, /dev/fuse and loop devices');
    return;
  }
  const d = await daemon();
  const base = join(d.dir, '..');
  const fuseDir = join(base, 'fuse');
  const mnt = join(base, 'mnt');
  await mkdir(fuseDir, { recursive: true });
  await mkdir(mnt, { recursive: true });
  const fuse = spawn('nbdfuse', [fuseDir, await d.uri('ram0')], { stdio: 'ignore' });
  let mounted = false;
  try {
    const file = join(fuseDir, 'nbd');
    for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(existsSync(file), 'nbdfuse exposes the export as a file');
    await ok(run('mkfs.ext4', ['-q', '-F', file]), 'mkfs.ext4');
    await ok(run('mount', ['-o', 'loop', file, mnt]), 'mount');
    mounted = true;
    const files = new Map<string, string>();
    for (let i = 0; i < 40; i++) {
      const b = randomBytes(256 * 1024 + i * 1000);
      await writeFile(join(mnt, `f${i}`), b);
      files.set(`f${i}`, sha(b));
    }
    await ok(run('umount', [mnt]), 'umount');
    mounted = false;
    await ok(run('fsck.ext4', ['-fn', file]), 'fsck.ext4 -fn');
    await ok(run('mount', ['-o', 'loop', file, mnt]), 'remount');
    mounted = true;
    assert.deepEqual((await readdir(mnt)).filter((n) => n.startsWith('f')).sort(), [...files.keys()].sort());
    for (const [n, h] of files) assert.equal(sha(await readFile(join(mnt, n))), h, n);
  } finally {
    if (mounted) await run('umount', [mnt]);
    await run('fusermount3', ['-u', fuseDir]);
    fuse.kill();
    await d.stop();
  }
});

test('TLS: nbdinfo with X.509 certificates and with PSK; plain clients refused under require', async (t) => {
  if (!need(t, 'nbdinfo', 'certtool', 'psktool')) return;
  const dir = join(await tempRuntime(), '..', 'pki');
  await mkdir(join(dir, 'client'), { recursive: true });
  const cert = async (args: string[], what: string) => ok(run('certtool', args), what);
  await writeFile(join(dir, 'ca.info'), 'cn = ucrypt test CA\nca\ncert_signing_key\nexpiration_days = 2\n');
  await writeFile(join(dir, 'server.info'), 'organization = ucrypt test\ncn = localhost\ndns_name = localhost\nip_address = 127.0.0.1\ntls_www_server\nencryption_key\nsigning_key\nexpiration_days = 2\n');
  await writeFile(join(dir, 'client.info'), 'organization = ucrypt test\ncn = client\ntls_www_client\nencryption_key\nsigning_key\nexpiration_days = 2\n');
  await writeFile(join(dir, 'ca-key.pem'), (await cert(['--generate-privkey'], 'ca key')).stdout);
  await cert(['--generate-self-signed', '--load-privkey', join(dir, 'ca-key.pem'), '--template', join(dir, 'ca.info'), '--outfile', join(dir, 'ca-cert.pem')], 'ca');
  await writeFile(join(dir, 'server-key.pem'), (await cert(['--generate-privkey'], 'server key')).stdout);
  await cert(['--generate-certificate', '--load-ca-certificate', join(dir, 'ca-cert.pem'), '--load-ca-privkey', join(dir, 'ca-key.pem'), '--load-privkey', join(dir, 'server-key.pem'), '--template', join(dir, 'server.info'), '--outfile', join(dir, 'server-cert.pem')], 'server cert');
  await writeFile(join(dir, 'client', 'client-key.pem'), (await cert(['--generate-privkey'], 'client key')).stdout);
  await cert(['--generate-certificate', '--load-ca-certificate', join(dir, 'ca-cert.pem'), '--load-ca-privkey', join(dir, 'ca-key.pem'), '--load-privkey', join(dir, 'client', 'client-key.pem'), '--template', join(dir, 'client.info'), '--outfile', join(dir, 'client', 'client-cert.pem')], 'client cert');
  await writeFile(join(dir, 'client', 'ca-cert.pem'), await readFile(join(dir, 'ca-cert.pem')));
  await ok(run('psktool', ['-u', 'alice', '-p', join(dir, 'keys.psk')]), 'psktool');
  try {
    // X.509, client certificates verified.
    let d = await daemon(['--tls=require', `--tls-certificates=${dir}`, '--tls-verify-peer', '--listen', 'tcp:127.0.0.1:0']);
    try {
      const uri = await d.uri('ram0');
      assert.match(uri, /^nbds:\/\/127\.0\.0\.1:\d+\/ram0$/);
      const info = await ok(run('nbdinfo', ['--json', `${uri}?tls-certificates=${join(dir, 'client')}`]), 'nbdinfo over TLS');
      const j = JSON.parse(info.stdout) as { TLS: boolean; exports: Record<string, unknown>[] };
      assert.equal(j.TLS, true);
      assert.equal(j.exports[0]!['export-size'], 64 * MiB);
      const plain = await run('nbdinfo', [uri.replace('nbds://', 'nbd://')]);
      assert.notEqual(plain.code, 0);
      assert.match(plain.stderr, /TLS|not supported/);
      // Without a client certificate the handshake is refused.
      const anon = await run('nbdinfo', [`${uri}?tls-certificates=${dir}-missing`]);
      assert.notEqual(anon.code, 0);
    } finally {
      await d.stop();
    }
    // PSK (psktool's key file), over the unix socket.
    d = await daemon(['--tls=require', `--tls-psk=${join(dir, 'keys.psk')}`]);
    try {
      const uri = `nbds+unix://alice@/ram0?socket=${d.sock}&tls-psk-file=${join(dir, 'keys.psk')}`;
      const j = JSON.parse((await ok(run('nbdinfo', ['--json', uri]), 'nbdinfo PSK')).stdout) as { TLS: boolean };
      assert.equal(j.TLS, true);
      const plain = await run('nbdinfo', [`nbd+unix:///ram0?socket=${d.sock}`]);
      assert.notEqual(plain.code, 0);
      assert.match(plain.stderr, /TLS|not supported/);
      await writeFile(join(dir, 'wrong.psk'), `alice:${randomBytes(32).toString('hex')}\n`);
      const wrong = await run('nbdinfo', [`nbds+unix://alice@/ram0?socket=${d.sock}&tls-psk-file=${join(dir, 'wrong.psk')}`]);
      assert.notEqual(wrong.code, 0, 'a wrong key is refused');
    } finally {
      await d.stop();
    }
    // --tls=on: TLS optional; plain clients still work.
    d = await daemon(['--tls=on', `--tls-psk=${join(dir, 'keys.psk')}`]);
    try {
      await ok(run('nbdinfo', ['--size', `nbd+unix:///ram0?socket=${d.sock}`]), 'plain under --tls=on');
      await ok(run('nbdinfo', ['--size', `nbds+unix://alice@/ram0?socket=${d.sock}&tls-psk-file=${join(dir, 'keys.psk')}`]), 'TLS under --tls=on');
    } finally {
      await d.stop();
    }
  } finally {
    await rm(join(dir, '..'), { recursive: true, force: true });
  }
});
