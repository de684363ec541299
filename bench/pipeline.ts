// In-process benchmark of the crypt pipeline (not a test): every mode over an embedded RAM disk,
// for capi:ecb(cipher_null) and aes-xts-plain64.
//
//   per-I/O cost (µs) at bs=4k, iodepth 1 and 32, reads and writes (sequential)
//   MiB/s at bs=1m, iodepth 8, with the process's CPU use (cores busy), to show whether the
//     kcryptd path really uses more than one core; the ratio workqueue / inline is the goal
//     (>= 1.6 with aes-xts-plain64)
//   the bounce-copy cost: workqueue reads into plain memory vs into SharedArrayBuffer memory
//
// Callers' buffers are SharedArrayBuffer-backed (as the NBD server's pool and the in-process fio
// engine use), so kcryptd workers read from and write into them directly.
//
// Every mode's data is verified against an inline reference before anything is timed.
//
//   node dist/bench/pipeline.js [--time=0.6] [--json] [--no-doc]
//
// Each figure is the best of three equal slices of --time seconds (the host may be shared).
//
// Prints a table and JSON; writes the table into docs/benchmarks.md under
// "## Pipeline (in-process)" (other sections of that file are left alone).

import { readFileSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RamDisk } from '../src/backends/ram/ramdisk.js';
import { splitArgs } from '../src/dm/table.js';
import { stopKworkers } from '../src/pipeline/kcryptd.js';
import { kcryptdWorkers } from '../src/pipeline/crypt-pipeline.js';
import { CryptTarget, cryptTarget } from '../src/targets/crypt/crypt.js';
import { registerBuiltinTargets } from '../src/targets/index.js';

registerBuiltinTargets();

const args = process.argv.slice(2);
/** Seconds per measurement (split into three slices; the best slice is reported). */
const SECONDS = Number(args.find((a) => a.startsWith('--time='))?.slice(7) ?? '0.6');
const JSON_ONLY = args.includes('--json');
const NO_DOC = args.includes('--no-doc');
/** --cipher=SUBSTRING and --modes=a,b (default and inline are always run) narrow the run. */
const CIPHER_ONLY = args.find((a) => a.startsWith('--cipher='))?.slice(9);
const MODES_ONLY = args.find((a) => a.startsWith('--modes='))?.slice(8).split(',');

const MODES: Record<string, readonly string[]> = {
  default: [],
  no_read_workqueue: ['no_read_workqueue'],
  no_write_workqueue: ['no_write_workqueue'],
  inline: ['no_read_workqueue', 'no_write_workqueue'],
  same_cpu_crypt: ['same_cpu_crypt'],
  submit_from_crypt_cpus: ['submit_from_crypt_cpus'],
  high_priority: ['high_priority'],
};

const CIPHERS: Record<string, { cipher: string; key: string }> = {
  'capi:ecb(cipher_null)': { cipher: 'capi:ecb(cipher_null)', key: '-' },
  'aes-xts-plain64': { cipher: 'aes-xts-plain64', key: '6b'.repeat(32) + 'c3'.repeat(32) },
};

const DISK = 64 << 20;

interface Dev {
  read(offset: number, buf: Uint8Array): Promise<void>;
  write(offset: number, buf: Uint8Array): Promise<void>;
}

async function target(ram: RamDisk, cipher: string, flags: readonly string[]): Promise<CryptTarget> {
  const c = CIPHERS[cipher]!;
  const opt = flags.length ? ` ${flags.length} ${flags.join(' ')}` : '';
  const t = await cryptTarget.create(splitArgs(`${c.cipher} ${c.key} 0 /dev/ram0 0${opt}`), {
    begin: 0,
    len: DISK / 512,
    readOnly: false,
    getDevice: async () => ({ dev: ram, devName: '1:0', kname: 'ram0' }),
  });
  if (!(t instanceof CryptTarget)) throw new Error('not a crypt target');
  return t;
}

function pattern(buf: Uint8Array, seed: number): Uint8Array {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < buf.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[i] = x;
  }
  return buf;
}

/** Verifies a mode against the inline reference: same ciphertext, same plaintext back. */
async function verify(cipher: string, flags: readonly string[]): Promise<void> {
  const size = 4 << 20;
  const ramA = new RamDisk(DISK);
  const ramB = new RamDisk(DISK);
  const ref = await target(ramA, cipher, MODES['inline']!);
  const t = await target(ramB, cipher, flags);
  try {
    const ios: { off: number; data: Uint8Array }[] = [];
    for (let i = 0; i < 64; i++) ios.push({ off: ((i * 37) % 64) * 65536, data: pattern(new Uint8Array(65536), i + 1) });
    for (const io of ios) await ref.write(io.off, io.data);
    await Promise.all(ios.map((io) => t.write(io.off, io.data)));
    const a = new Uint8Array(size);
    const b = new Uint8Array(size);
    await ramA.read(0, a);
    await ramB.read(0, b);
    if (!Buffer.from(a).equals(b)) throw new Error(`${cipher} ${flags.join(',') || 'default'}: ciphertext differs from the inline reference`);
    const back = ios.map((io) => new Uint8Array(io.data.length));
    await Promise.all(ios.map((io, i) => t.read(io.off, back[i]!)));
    ios.forEach((io, i) => {
      if (!Buffer.from(back[i]!).equals(io.data)) throw new Error(`${cipher} ${flags.join(',') || 'default'}: read-back differs at ${io.off}`);
    });
  } finally {
    t.close();
    ref.close();
  }
}

interface Run {
  readonly ios: number;
  readonly seconds: number;
  /** Wall time per I/O in microseconds. */
  readonly usPerIo: number;
  readonly mibps: number;
  /** Process CPU time / wall time: how many cores were busy on average. */
  readonly cores: number;
  /** The main thread's event-loop utilization (its busy share of the wall time). */
  readonly main: number;
}

/** Sequential I/O at `depth` for SECONDS over the first `span` bytes. */
async function run(dev: Dev, op: 'read' | 'write', bs: number, depth: number, span: number, shared = true): Promise<Run> {
  const bufs = Array.from({ length: depth }, (_, i) => pattern(shared ? new Uint8Array(new SharedArrayBuffer(bs)) : new Uint8Array(bs), i + 7));
  let next = 0;
  let ios = 0;
  let end = 0;
  // The deadline is checked per I/O: in-memory paths complete in microtasks only, so a timer
  // would never get to run.
  const lane = async (k: number): Promise<void> => {
    const buf = bufs[k]!;
    while (performance.now() < end) {
      const off = next;
      next = (next + bs) % span;
      await (op === 'read' ? dev.read(off, buf) : dev.write(off, buf));
      ios++;
    }
  };
  // Warm-up (JIT, pools, worker start), then the timed run.
  const warm = performance.now() + 100;
  const warmLanes = Array.from({ length: depth }, async (_, k) => {
    while (performance.now() < warm) await (op === 'read' ? dev.read(0, bufs[k]!) : dev.write(0, bufs[k]!));
  });
  await Promise.all(warmLanes);
  // Best of three slices: on a shared host, the least disturbed slice shows what the path can do.
  let best: Run | undefined;
  for (let k = 0; k < 3; k++) {
    next = 0;
    ios = 0;
    const cpu0 = process.cpuUsage();
    const elu0 = performance.eventLoopUtilization();
    const t0 = performance.now();
    end = t0 + (SECONDS * 1000) / 3;
    await Promise.all(Array.from({ length: depth }, (_, j) => lane(j)));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    // The lanes run in microtasks, which ELU does not count as idle-free time unless the loop
    // wakes: time blocked in the poll phase is the main thread's idle time either way.
    const elu = performance.eventLoopUtilization(elu0);
    const r: Run = {
      ios,
      seconds: round(seconds, 3),
      usPerIo: round((seconds * 1e6) / ios, 2),
      mibps: round((ios * bs) / (1 << 20) / seconds, 1),
      cores: round((cpu.user + cpu.system) / 1e6 / seconds, 2),
      main: round(elu.utilization, 2),
    };
    if (!best || r.mibps > best.mibps) best = r;
  }
  return best!;
}

function round(x: number, d: number): number {
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

interface ModeResult {
  readonly mode: string;
  readonly read4kQd1: Run;
  readonly write4kQd1: Run;
  readonly read4kQd32: Run;
  readonly write4kQd32: Run;
  readonly read1mQd8: Run;
  readonly write1mQd8: Run;
}

async function main(): Promise<void> {
  const loadBefore = round(loadavg()[0]!, 2);
  const results: { cipher: string; ram0: { read4kQd1: Run; write4kQd1: Run; read4kQd32: Run; write4kQd32: Run }; modes: ModeResult[]; copy: { plain: Run; shared: Run } }[] = [];
  const ram = new RamDisk(DISK);
  // Every page allocated once, so no run pays brd's first-write page allocation.
  const fillBuf = new Uint8Array(1 << 20);
  for (let off = 0; off < DISK; off += fillBuf.length) await ram.write(off, fillBuf);
  const ram0 = {
    read4kQd1: await run(ram, 'read', 4096, 1, 16 << 20),
    write4kQd1: await run(ram, 'write', 4096, 1, 16 << 20),
    read4kQd32: await run(ram, 'read', 4096, 32, 16 << 20),
    write4kQd32: await run(ram, 'write', 4096, 32, 16 << 20),
  };
  const modeList = Object.entries(MODES).filter(([m]) => !MODES_ONLY || m === 'default' || m === 'inline' || MODES_ONLY.includes(m));
  for (const cipher of Object.keys(CIPHERS).filter((c) => !CIPHER_ONLY || c.includes(CIPHER_ONLY))) {
    for (const [, flags] of modeList) await verify(cipher, flags);
    const modes: ModeResult[] = [];
    for (const [mode, flags] of modeList) {
      const t = await target(ram, cipher, flags);
      try {
        modes.push({
          mode,
          read4kQd1: await run(t, 'read', 4096, 1, 16 << 20),
          write4kQd1: await run(t, 'write', 4096, 1, 16 << 20),
          read4kQd32: await run(t, 'read', 4096, 32, 16 << 20),
          write4kQd32: await run(t, 'write', 4096, 32, 16 << 20),
          read1mQd8: await run(t, 'read', 1 << 20, 8, DISK),
          write1mQd8: await run(t, 'write', 1 << 20, 8, DISK),
        });
      } finally {
        t.close();
      }
    }
    const t = await target(ram, cipher, MODES['default']!);
    let copy: { plain: Run; shared: Run };
    try {
      copy = { plain: await run(t, 'read', 1 << 20, 8, DISK, false), shared: await run(t, 'read', 1 << 20, 8, DISK, true) };
    } finally {
      t.close();
    }
    results.push({ cipher, ram0, modes, copy });
  }
  await stopKworkers();

  // The 1-minute load average around the run: other processes on the host share the cores.
  const host = { cores: availableParallelism(), cpu: cpus()[0]?.model ?? 'unknown', node: process.version, kcryptdWorkers: kcryptdWorkers(), load: [loadBefore, round(loadavg()[0]!, 2)] };
  const summary = results.map((r) => {
    const def = r.modes.find((m) => m.mode === 'default')!;
    const inl = r.modes.find((m) => m.mode === 'inline')!;
    return {
      cipher: r.cipher,
      workqueueVsInline1m: {
        read: round(def.read1mQd8.mibps / inl.read1mQd8.mibps, 2),
        write: round(def.write1mQd8.mibps / inl.write1mQd8.mibps, 2),
        // Reads into plain (non-shared) memory: the main thread copies each MiB out of a bounce.
        readPlain: round(r.copy.plain.mibps / inl.read1mQd8.mibps, 2),
      },
      bounceCopy1mRead: { plainMiBps: r.copy.plain.mibps, sharedMiBps: r.copy.shared.mibps },
    };
  });
  const out = { host, seconds: SECONDS, results, summary };
  const md = table(out);
  if (JSON_ONLY) console.log(JSON.stringify(out, null, 2));
  else {
    console.log(md);
    console.log(JSON.stringify(out));
  }
  if (!NO_DOC) writeDoc(md);
}

type Out = {
  host: { cores: number; cpu: string; node: string; kcryptdWorkers: number; load: number[] };
  seconds: number;
  results: { cipher: string; ram0: Record<string, Run>; modes: ModeResult[]; copy: { plain: Run; shared: Run } }[];
  summary: { cipher: string; workqueueVsInline1m: { read: number; write: number; readPlain: number }; bounceCopy1mRead: { plainMiBps: number; sharedMiBps: number } }[];
};

function table(o: Out): string {
  const lines: string[] = [];
  lines.push(
    `Host: ${o.host.cores} cores (${o.host.cpu}), Node ${o.host.node}, ${o.host.kcryptdWorkers} kcryptd workers, best of 3 slices of ${round(o.seconds / 3, 2)} s per figure; ` +
      `load average ${o.host.load[0]} before, ${o.host.load[1]} after (above ~0.5 other processes were competing for the cores).`,
  );
  lines.push('Command: `npx tsc -p . && node dist/bench/pipeline.js`');
  for (const r of o.results) {
    lines.push('');
    lines.push(`### ${r.cipher}`);
    lines.push('');
    lines.push('| mode | 4k QD1 read µs | 4k QD1 write µs | 4k QD32 read µs/IO | 4k QD32 write µs/IO | 1m QD8 read MiB/s (cores, main) | 1m QD8 write MiB/s (cores, main) |');
    lines.push('|---|---:|---:|---:|---:|---:|---:|');
    const z = r.ram0;
    lines.push(`| ram0 (no crypt) | ${z['read4kQd1']!.usPerIo} | ${z['write4kQd1']!.usPerIo} | ${z['read4kQd32']!.usPerIo} | ${z['write4kQd32']!.usPerIo} | | |`);
    for (const m of r.modes) {
      lines.push(
        `| ${m.mode} | ${m.read4kQd1.usPerIo} | ${m.write4kQd1.usPerIo} | ${m.read4kQd32.usPerIo} | ${m.write4kQd32.usPerIo} | ${m.read1mQd8.mibps} (${m.read1mQd8.cores}, ${m.read1mQd8.main}) | ${m.write1mQd8.mibps} (${m.write1mQd8.cores}, ${m.write1mQd8.main}) |`,
      );
    }
    const s = o.summary.find((x) => x.cipher === r.cipher)!;
    lines.push('');
    lines.push(
      `Workqueue (default) / inline at bs=1m iodepth 8: read ${s.workqueueVsInline1m.read}x, write ${s.workqueueVsInline1m.write}x, ` +
        `read into plain (non-shared) memory ${s.workqueueVsInline1m.readPlain}x. ` +
        `Bounce copy (default mode, 1m reads): ${s.bounceCopy1mRead.plainMiBps} MiB/s into plain memory vs ${s.bounceCopy1mRead.sharedMiBps} MiB/s into SharedArrayBuffer memory (decrypted in place).`,
    );
  }
  return lines.join('\n');
}

const HEADING = '## Pipeline (in-process)';

function writeDoc(md: string): void {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const file = join(root, 'docs', 'benchmarks.md');
  const notes = [
    'Reading it:',
    '- "main" is the main thread\'s event-loop utilization: with the kcryptd path over a RAM disk the',
    '  workers copy the pages and do the crypto, so for 1 MiB reads the main thread only keeps the',
    '  books; for writes through the sorted tree it still copies each clone into the pages',
    '  (dmcrypt_write stays one writer, in sector order, on the main thread).',
    '- Callers\' buffers here are SharedArrayBuffer-backed, as the NBD server\'s pool and the',
    '  in-process fio engine are; "read into plain memory" shows what a non-shared caller costs (one',
    '  main-thread copy out of a bounce per request).',
    '- The workqueue >= 1.6x inline goal for aes-xts-plain64 at bs=1m needs two otherwise idle',
    '  cores: the "cores" column shows how much CPU the process actually got. By instruction count',
    '  (callgrind --separate-threads, 30 MiB of 1 MiB QD8 reads plus 30 MiB of writes, the difference',
    '  of two run lengths) the workqueue path costs 5.1M instructions per MiB against inline\'s 4.9M,',
    '  with 0.63M of them on the main thread (inline: all), so two idle cores give it about 1.9x.',
    '- Per-I/O cost at iodepth 1: the workqueue paths hand each request to a worker and back. When',
    '  the submitter chains I/O in this process (as here) the main thread polls for the completion',
    '  before sleeping in Atomics.waitAsync and the worker polls for the next request, so on an',
    '  idle host neither side pays a futex wake-up; polls that time out back off, so a loaded host',
    '  sleeps and wakes as before; I/O over NBD never polls (UCRYPT_KCRYPTD_POLL_US=0: no polling).',
    '- With capi:ecb(cipher_null) there is no crypto to spread, so the workqueue can only cost.',
  ].join('\n');
  const section = `${HEADING}\n\nWritten by \`bench/pipeline.ts\`: crypt targets in every mode over an embedded RAM disk, in one process (no NBD), data verified against an inline reference before timing. "cores" is process CPU time (main thread and workers) over wall time; "inline" is no_read_workqueue + no_write_workqueue.\n\n${md}\n\n${notes}\n`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const at = text.indexOf(HEADING);
  if (at < 0) text = `${text.trimEnd()}\n\n${section}`;
  else {
    const rest = text.indexOf('\n## ', at + HEADING.length);
    text = text.slice(0, at) + section + (rest < 0 ? '' : `\n${text.slice(rest + 1)}`);
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

await main();
