// NBD end to end: fio's nbd engine over a unix socket against ucrypt's RAM disk export and
// `nbdkit memory` of the same size, side by side in the same run.
//
//   node dist/bench/nbd.js [--runtime S] [--rounds N] [--size MiB] [--json FILE]
//
// 1. Starts `ucrypt daemon --background` in a private runtime directory (a RAM disk of --size
//    MiB) and `nbdkit -f -U SOCK memory SIZE`.
// 2. Verifies before timing: on each server, fio writes random 4k/64k blocks with crc32c
//    checksums at iodepth 16 and reads them back (verify_fatal), then both devices are filled
//    with 1 MiB writes so reads hit data, not holes.
// 3. For each point (bs=4k iodepth 1 and 32, bs=1m iodepth 4; read and write, random for 4k and
//    sequential for 1m), runs ucrypt then nbdkit, --rounds times interleaved, and keeps the
//    median IOPS of each. The machine may be shared: interleaving keeps the comparison fair.
// Prints a table with ratios (ucrypt / nbdkit) and a JSON document (also written to --json).
// Next to IOPS it reports each server's CPU time per request (user + system, from
// /proc/PID/stat, all threads): on a shared machine IOPS swing with the other load, CPU time
// per request much less, so it shows where a server does more work than the other.

import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fioNbd, median, must, run, waitFor } from './support.js';

const BIN = fileURLToPath(new URL('../../bin/ucrypt.js', import.meta.url));

interface Args {
  runtime: number;
  rounds: number;
  size: number;
  json: string | undefined;
}

function parse(argv: string[]): Args {
  const a: Args = { runtime: 5, rounds: 3, size: 256, json: undefined };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = argv[i + 1];
    if (k === '--runtime') a.runtime = Number(v);
    else if (k === '--rounds') a.rounds = Number(v);
    else if (k === '--size') a.size = Number(v);
    else if (k === '--json') a.json = v;
    else throw new Error(`unknown argument ${k}; usage: node dist/bench/nbd.js [--runtime S] [--rounds N] [--size MiB] [--json FILE]`);
    i++;
  }
  return a;
}

interface Point {
  readonly name: string;
  readonly rw: string;
  readonly bs: string;
  readonly iodepth: number;
}

const POINTS: Point[] = [
  { name: '4k randread qd1', rw: 'randread', bs: '4k', iodepth: 1 },
  { name: '4k randwrite qd1', rw: 'randwrite', bs: '4k', iodepth: 1 },
  { name: '4k randread qd32', rw: 'randread', bs: '4k', iodepth: 32 },
  { name: '4k randwrite qd32', rw: 'randwrite', bs: '4k', iodepth: 32 },
  { name: '1m read qd4', rw: 'read', bs: '1m', iodepth: 4 },
  { name: '1m write qd4', rw: 'write', bs: '1m', iodepth: 4 },
];

interface FioResult {
  iops: number;
  bw: number;
  /** The server's CPU time (user + system) per request, in microseconds. */
  cpuUs: number;
}

/** USER_HZ: the unit of utime/stime in /proc/PID/stat (100 on every Linux architecture we run on). */
const USER_HZ = 100;

/** A process's CPU time so far (user + system, every thread, exited ones included), in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name (which may hold spaces): utime is the 14th
  // field of the line, stime the 15th.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / USER_HZ;
}

async function fio(uri: string, pid: number, p: Point, args: Args): Promise<FioResult> {
  const cpu0 = cpuSeconds(pid);
  const side = await fioNbd(uri, p, args.size, args.runtime);
  const ios = side.total_ios;
  return { iops: side.iops, bw: side.bw_bytes, cpuUs: ios > 0 ? ((cpuSeconds(pid) - cpu0) * 1e6) / ios : 0 };
}

async function verify(uri: string, args: Args): Promise<void> {
  await must('fio', ['--name=verify', '--ioengine=nbd', `--uri=${uri}`, '--rw=randwrite', '--bsrange=4k-64k', '--iodepth=16',
    `--size=${Math.min(args.size, 64)}m`, '--verify=crc32c', '--do_verify=1', '--verify_fatal=1']);
  await must('fio', ['--name=fill', '--ioengine=nbd', `--uri=${uri}`, '--rw=write', '--bs=1m', '--iodepth=4', `--size=${args.size}m`]);
}

async function main(): Promise<void> {
  const args = parse(process.argv.slice(2));
  const dir = await mkdtemp(join(tmpdir(), 'ucrypt-bench-nbd-'));
  const runtime = join(dir, 'run');
  const env = { ...process.env, UCRYPT_RUNTIME_DIR: runtime };
  let nbdkit: ChildProcess | undefined;
  try {
    await must(process.execPath, [BIN, 'daemon', '--background'], env);
    await must(process.execPath, [BIN, 'modprobe', 'brd', 'rd_nr=1', `rd_size=${args.size * 1024}`], env);
    const ucryptUri = (await must(process.execPath, [BIN, 'nbd-uri', 'ram0'], env)).trim();
    const ucryptPid = Number(readFileSync(join(runtime, 'daemon.pid'), 'utf8').trim());
    const kitSock = join(dir, 'nbdkit.sock');
    nbdkit = spawn('nbdkit', ['-f', '-U', kitSock, 'memory', `${args.size}M`], { stdio: 'ignore' });
    await waitFor(kitSock);
    const kitPid = nbdkit.pid ?? 0;
    const kitUri = `nbd+unix:///?socket=${kitSock}`;
    const nbdkitVersion = (await must('nbdkit', ['--version'])).trim();
    const fioVersion = (await must('fio', ['--version'])).trim();

    process.stderr.write('verifying both servers (fio verify=crc32c), then filling them...\n');
    await verify(ucryptUri, args);
    await verify(kitUri, args);

    const results = [];
    for (const p of POINTS) {
      const u: FioResult[] = [];
      const k: FioResult[] = [];
      for (let r = 0; r < args.rounds; r++) {
        u.push(await fio(ucryptUri, ucryptPid, p, args));
        k.push(await fio(kitUri, kitPid, p, args));
      }
      const ui = median(u.map((x) => x.iops));
      const ki = median(k.map((x) => x.iops));
      const row = {
        point: p.name, rw: p.rw, bs: p.bs, iodepth: p.iodepth,
        ucrypt: { iops: Math.round(ui), mibps: +(median(u.map((x) => x.bw)) / 1048576).toFixed(1), cpuUsPerIo: +median(u.map((x) => x.cpuUs)).toFixed(1), samples: u.map((x) => Math.round(x.iops)) },
        nbdkit: { iops: Math.round(ki), mibps: +(median(k.map((x) => x.bw)) / 1048576).toFixed(1), cpuUsPerIo: +median(k.map((x) => x.cpuUs)).toFixed(1), samples: k.map((x) => Math.round(x.iops)) },
        ratio: +(ui / ki).toFixed(2),
      };
      results.push(row);
      process.stderr.write(`${p.name}: ucrypt ${row.ucrypt.iops} IOPS (${row.ucrypt.cpuUsPerIo} us CPU/IO), nbdkit ${row.nbdkit.iops} IOPS (${row.nbdkit.cpuUsPerIo} us CPU/IO), ${row.ratio}x\n`);
    }
    const doc = {
      benchmark: 'nbd',
      date: new Date().toISOString(),
      node: process.version,
      cpus: `${cpus().length} x ${cpus()[0]?.model ?? '?'}`,
      loadAverage: loadavg().map((x) => +x.toFixed(2)),
      nbdkit: nbdkitVersion.split('\n')[0],
      fio: fioVersion,
      runtimeSeconds: args.runtime,
      rounds: args.rounds,
      sizeMiB: args.size,
      results,
    };
    const w = (s: string, n: number): string => s.padStart(n);
    const lines = [
      `${'point'.padEnd(18)}${w('ucrypt IOPS', 13)}${w('MiB/s', 9)}${w('us CPU/IO', 11)}${w('nbdkit IOPS', 13)}${w('MiB/s', 9)}${w('us CPU/IO', 11)}${w('ratio', 8)}`,
      ...results.map((r) => `${r.point.padEnd(18)}${w(String(r.ucrypt.iops), 13)}${w(r.ucrypt.mibps.toFixed(1), 9)}${w(r.ucrypt.cpuUsPerIo.toFixed(1), 11)}${w(String(r.nbdkit.iops), 13)}${w(r.nbdkit.mibps.toFixed(1), 9)}${w(r.nbdkit.cpuUsPerIo.toFixed(1), 11)}${w(`${r.ratio.toFixed(2)}x`, 8)}`),
    ];
    process.stdout.write(`${lines.join('\n')}\n\n${JSON.stringify(doc, null, 2)}\n`);
    if (args.json) writeFileSync(args.json, `${JSON.stringify(doc, null, 2)}\n`);
  } finally {
    if (nbdkit?.pid) nbdkit.kill();
    await run(process.execPath, [BIN, 'daemon', '--stop'], env);
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/nbd: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
