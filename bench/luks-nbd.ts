// A LUKS1 volume made by `qemu-img create -f luks`, served over NBD by ucrypt and by nbdkit's
// luks filter, side by side: fio's nbd engine against each, in the same run.
//
//   node dist/bench/luks-nbd.js [--runtime S] [--rounds N] [--size MiB] [--iter-time MS]
//                               [--variants default,inline] [--json FILE]
//
// 1. `qemu-img create -f luks` makes the image (LUKS1, qemu's defaults: aes-xts-plain64 with a
//    512-bit key, sha256; --iter-time, default 100 ms, keeps the PBKDF short so set-up is quick).
// 2. ucrypt: a private daemon (its own runtime directory), `ucrypt cryptsetup open` of the image
//    (the mapped device is exported over NBD on the daemon's unix socket). nbdkit: `nbdkit -U SOCK
//    file IMAGE --filter=luks passphrase=+KEYFILE` on the same image.
// 3. Correctness before timing: random data written through ucrypt reads back byte for byte
//    through nbdkit, and other random data written through nbdkit reads back through ucrypt (both
//    decrypt the same image), and the image holds ciphertext, not the data. This also fills the
//    whole device, so reads hit data.
// 4. Timing: 4k randread/randwrite at iodepth 1 and 64k randread/randwrite at iodepth 8, each
//    server in turn (the order alternates every round), --rounds times; medians and the ratio
//    ucrypt / nbdkit. Variants: `default` opens with cryptsetup's defaults (the crypt target's
//    workqueues); `inline` switches the same device to --perf-no_read_workqueue
//    --perf-no_write_workqueue with `cryptsetup refresh` (nbdkit's filter also encrypts in the
//    request's own thread).
// Prints a table and a JSON document (also written to --json).

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fioNbd, median, must, run, waitFor } from './support.js';

const BIN = fileURLToPath(new URL('../../bin/ucrypt.js', import.meta.url));
const PASSPHRASE = 'luks-nbd benchmark passphrase';
const NAME = 'luksbench';

type Variant = 'default' | 'inline';
const VARIANT_FLAGS: Record<Variant, string[]> = {
  default: [],
  inline: ['--perf-no_read_workqueue', '--perf-no_write_workqueue'],
};

interface Args {
  runtime: number;
  rounds: number;
  size: number;
  iterTime: number;
  variants: Variant[];
  json: string | undefined;
}

const USAGE = 'usage: node dist/bench/luks-nbd.js [--runtime S] [--rounds N] [--size MiB] [--iter-time MS] [--variants default,inline] [--json FILE]';

function parse(argv: string[]): Args {
  const a: Args = { runtime: 5, rounds: 5, size: 256, iterTime: 100, variants: ['default', 'inline'], json: undefined };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${k} needs a value; ${USAGE}`);
    if (k === '--runtime') a.runtime = Number(v);
    else if (k === '--rounds') a.rounds = Number(v);
    else if (k === '--size') a.size = Number(v);
    else if (k === '--iter-time') a.iterTime = Number(v);
    else if (k === '--variants') {
      a.variants = v.split(',').map((x) => {
        if (x !== 'default' && x !== 'inline') throw new Error(`unknown variant ${x} (default, inline)`);
        return x;
      });
    } else if (k === '--json') a.json = v;
    else throw new Error(`unknown argument ${k}; ${USAGE}`);
    i++;
  }
  return a;
}

interface Point {
  readonly name: string;
  readonly rw: 'randread' | 'randwrite';
  readonly bs: string;
  readonly iodepth: number;
}

const POINTS: Point[] = [
  { name: '4k randread qd1', rw: 'randread', bs: '4k', iodepth: 1 },
  { name: '4k randwrite qd1', rw: 'randwrite', bs: '4k', iodepth: 1 },
  { name: '64k randread qd8', rw: 'randread', bs: '64k', iodepth: 8 },
  { name: '64k randwrite qd8', rw: 'randwrite', bs: '64k', iodepth: 8 },
];

interface FioResult {
  iops: number;
  bw: number;
  clatUs: number;
}

async function fio(uri: string, p: Point, args: Args): Promise<FioResult> {
  const side = await fioNbd(uri, p, args.size, args.runtime);
  return { iops: side.iops, bw: side.bw_bytes, clatUs: side.clat_ns.mean / 1000 };
}

/** nbdcopy FROM TO with a flush at the end (so the other server reads what reached the image). */
async function copy(from: string, to: string): Promise<void> {
  await must('nbdcopy', ['--flush', from, to]);
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const step = 1 << 20;
  for (let off = 0; off < a.length; off += step) {
    const end = Math.min(a.length, off + step);
    if (Buffer.compare(a.subarray(off, end), b.subarray(off, end)) !== 0) {
      for (let i = off; i < end; i++) if (a[i] !== b[i]) return i;
    }
  }
  return -1;
}

/** Data written through `writer` must read back identically through `reader`. */
async function crossCheck(dir: string, writerName: string, writer: string, readerName: string, reader: string, size: number): Promise<void> {
  const data = new Uint8Array(size);
  randomFillSync(data);
  const src = join(dir, 'cross-in.raw');
  const dst = join(dir, 'cross-out.raw');
  await writeFile(src, data);
  await copy(src, writer);
  await rm(dst, { force: true });
  await copy(reader, dst);
  const back = await readFile(dst); // the whole device: compare what was written
  if (back.length < size) throw new Error(`${readerName} returned ${back.length} bytes, less than the ${size} written`);
  const at = firstDifference(data, back.subarray(0, size));
  if (at >= 0) throw new Error(`data written through ${writerName} reads back differently through ${readerName} (first difference at byte ${at})`);
  await rm(src);
  await rm(dst);
  process.stderr.write(`  ${size >> 20} MiB written through ${writerName} read back identically through ${readerName}\n`);
}

/** The image must not hold the plaintext: compare its first MiB of payload with what was written. */
async function checkCiphertext(image: string, payloadOffset: number, plain: Uint8Array): Promise<void> {
  const fh = await open(image, 'r');
  try {
    const buf = Buffer.alloc(plain.length);
    await fh.read(buf, 0, buf.length, payloadOffset);
    let same = 0;
    for (let i = 0; i < buf.length; i++) if (buf[i] === plain[i]) same++;
    // Random plaintext vs ciphertext agree in about 1/256 of the bytes.
    if (same > buf.length / 64) throw new Error(`the image holds plaintext at the payload offset (${same} of ${buf.length} bytes equal)`);
  } finally {
    await fh.close();
  }
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  const dir = await mkdtemp(join(tmpdir(), 'ucrypt-bench-luks-nbd-'));
  const runtime = join(dir, 'run');
  const env = { ...process.env, UCRYPT_RUNTIME_DIR: runtime };
  const ucrypt = (...a: string[]): Promise<string> => must(process.execPath, [BIN, ...a], env);
  let nbdkit: ChildProcess | undefined;
  let opened = false;
  try {
    const image = join(dir, 'luks1.img');
    const keyFile = join(dir, 'passphrase');
    await writeFile(keyFile, PASSPHRASE);
    // qemu's PBKDF2 calibration (crypto/pbkdf.c) fails now and then with "Unable to get accurate
    // CPU usage" when a timing round measures 0 ms of thread CPU time; a retry gets past it.
    const create = ['create', '-q', '--object', `secret,id=sec0,file=${keyFile}`, '-f', 'luks', '-o', `key-secret=sec0,iter-time=${args.iterTime}`, image, `${args.size}M`];
    for (let attempt = 1; ; attempt++) {
      const r = await run('qemu-img', create);
      if (r.code === 0) break;
      if (attempt === 5 || !r.stderr.includes('Unable to get accurate CPU usage')) throw new Error(`qemu-img ${create.join(' ')} failed: ${r.stderr}${r.stdout}`);
    }

    await ucrypt('daemon', '--background');
    const payloadOffset = Number(/Payload offset:\s*(\d+)/.exec(await ucrypt('cryptsetup', 'luksDump', image))?.[1]) * 512;
    if (!(payloadOffset > 0)) throw new Error('no payload offset in luksDump');
    const openArgs = (v: Variant): string[] => ['--key-file', keyFile, ...VARIANT_FLAGS[v]];
    await ucrypt('cryptsetup', 'open', ...openArgs('default'), image, NAME);
    opened = true;
    const ucryptUri = (await ucrypt('nbd-uri', NAME)).trim();
    const kitSock = join(dir, 'nbdkit.sock');
    nbdkit = spawn('nbdkit', ['-f', '-U', kitSock, 'file', image, '--filter=luks', `passphrase=+${keyFile}`], { stdio: ['ignore', 'ignore', 'inherit'] });
    await waitFor(kitSock, 200);
    const kitUri = `nbd+unix:///?socket=${kitSock}`;
    const sizes = await Promise.all([ucryptUri, kitUri].map(async (u) => Number((await must('nbdinfo', ['--size', u])).trim())));
    if (sizes[0] !== sizes[1] || sizes[0] !== args.size * 1048576) throw new Error(`export sizes differ: ucrypt ${sizes[0]}, nbdkit ${sizes[1]}, expected ${args.size * 1048576}`);

    process.stderr.write('checking that both servers decrypt the same image (nbdcopy, whole device)...\n');
    await crossCheck(dir, 'nbdkit', kitUri, 'ucrypt', ucryptUri, args.size * 1048576);
    await crossCheck(dir, 'ucrypt', ucryptUri, 'nbdkit', kitUri, args.size * 1048576);
    const probe = Buffer.alloc(1 << 20);
    randomFillSync(probe);
    await writeFile(join(dir, 'probe.raw'), probe);
    await copy(join(dir, 'probe.raw'), ucryptUri);
    await checkCiphertext(image, payloadOffset, probe);
    if (args.variants.includes('inline')) {
      await ucrypt('cryptsetup', 'refresh', ...openArgs('inline'), NAME);
      await crossCheck(dir, 'ucrypt (inline)', ucryptUri, 'nbdkit', kitUri, 64 << 20);
      await crossCheck(dir, 'nbdkit', kitUri, 'ucrypt (inline)', ucryptUri, 64 << 20);
    }

    const servers: { name: string; variant?: Variant; uri: string }[] = [
      ...args.variants.map((v) => ({ name: v === 'default' ? 'ucrypt' : `ucrypt ${v}`, variant: v, uri: ucryptUri })),
      { name: 'nbdkit', uri: kitUri },
    ];
    let current: Variant | undefined = args.variants.includes('inline') ? 'inline' : 'default';
    const results = [];
    for (const p of POINTS) {
      const samples = new Map<string, FioResult[]>(servers.map((s) => [s.name, []]));
      for (let r = 0; r < args.rounds; r++) {
        // Rotate the order every round so no server always runs first (or right after nbdkit).
        const order = servers.map((_, i) => servers[(i + r) % servers.length]!);
        for (const s of order) {
          if (s.variant !== undefined && s.variant !== current) {
            await ucrypt('cryptsetup', 'refresh', ...openArgs(s.variant), NAME);
            current = s.variant;
          }
          samples.get(s.name)!.push(await fio(s.uri, p, args));
        }
      }
      const kit = median(samples.get('nbdkit')!.map((x) => x.iops));
      const row = {
        point: p.name, rw: p.rw, bs: p.bs, iodepth: p.iodepth,
        servers: Object.fromEntries(servers.map((s) => {
          const xs = samples.get(s.name)!;
          const iops = median(xs.map((x) => x.iops));
          return [s.name, {
            iops: Math.round(iops),
            mibps: +(median(xs.map((x) => x.bw)) / 1048576).toFixed(1),
            clatUs: +median(xs.map((x) => x.clatUs)).toFixed(1),
            ratio: +(iops / kit).toFixed(2),
            samples: xs.map((x) => Math.round(x.iops)),
          }];
        })),
      };
      results.push(row);
      process.stderr.write(`${p.name}: ${servers.map((s) => `${s.name} ${row.servers[s.name]!.iops}`).join(', ')} IOPS\n`);
    }
    const doc = {
      benchmark: 'luks-nbd',
      date: new Date().toISOString(),
      node: process.version,
      cpus: `${cpus().length} x ${cpus()[0]?.model ?? '?'}`,
      loadAverage: loadavg().map((x) => +x.toFixed(2)),
      nbdkit: (await must('nbdkit', ['--version'])).trim().split('\n')[0],
      fio: (await must('fio', ['--version'])).trim(),
      qemuImg: (await must('qemu-img', ['--version'])).trim().split('\n')[0],
      image: 'LUKS1 by qemu-img create -f luks (aes-xts-plain64, 512-bit key, sha256)',
      sizeMiB: args.size,
      runtimeSeconds: args.runtime,
      rounds: args.rounds,
      variants: Object.fromEntries(args.variants.map((v) => [v === 'default' ? 'ucrypt' : `ucrypt ${v}`, ['cryptsetup', 'open', ...VARIANT_FLAGS[v]].join(' ')])),
      results,
    };
    const w = (s: string, n: number): string => s.padStart(n);
    const names = servers.map((s) => s.name);
    const ucryptNames = names.filter((n) => n !== 'nbdkit');
    const lines = [
      `${'point'.padEnd(19)}${names.map((n) => w(`${n} IOPS`, 19) + w('MiB/s', 8)).join('')}${ucryptNames.map((n) => w(`${n}/nbdkit`, 24)).join('')}`,
      ...results.map((r) => `${r.point.padEnd(19)}${names.map((n) => w(String(r.servers[n]!.iops), 19) + w(r.servers[n]!.mibps.toFixed(1), 8)).join('')}${ucryptNames.map((n) => w(`${r.servers[n]!.ratio.toFixed(2)}x`, 24)).join('')}`),
    ];
    process.stdout.write(`${lines.join('\n')}\n\n${JSON.stringify(doc, null, 2)}\n`);
    if (args.json) writeFileSync(args.json, `${JSON.stringify(doc, null, 2)}\n`);
  } finally {
    if (nbdkit?.pid) nbdkit.kill();
    if (opened) await run(process.execPath, [BIN, 'cryptsetup', 'close', NAME], env);
    await run(process.execPath, [BIN, 'daemon', '--stop'], env);
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/luks-nbd: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
