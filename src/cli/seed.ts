// `ucrypt seed`: the seed experiment end to end (see src/bench/seed.ts). It builds the four
// devices on a 4 GiB RAM disk (sparse: only what the write jobs touch is allocated) in a private
// daemon (its own runtime directory, removed afterwards: no root, nothing left behind), runs fio's
// 4k direct sequential read and write jobs on each over NBD (the device path a user has), and
// prints the seed's table with our figures beside the published ones, the ratios to ram0, a
// terminal bar chart, and an SVG chart.
//
//   ucrypt seed [--runtime 10] [--cipher aes-xts-plain64] [--engine nbd|inprocess|both]
//               [--svg PATH | --no-svg] [--json] [--markdown] [--bs 4k] [--iodepth 1]

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { svgChart, terminalBars } from '../bench/chart.js';
import type { ChartPanel, ChartSeries } from '../bench/chart.js';
import type { IoEngineName } from '../bench/options.js';
import type { SeedEngineResult } from '../bench/seed.js';
import { NULL_CIPHER, SEED_DEVICES, SEED_RD_SIZE_KIB, ratios, runSeedJobs, seedKey, seedRegistry, seedTable } from '../bench/seed.js';
import { parseTime } from '../bench/units.js';
import { VERSION } from '../daemon/handlers.js';
import { errorMessage } from '../errors.js';
import type { CliIO } from './io.js';
import { processIO } from './io.js';
import { runCli } from './main.js';

const USAGE = `usage: ucrypt seed [options]

The seed experiment (Linux 5.9's no_read_workqueue/no_write_workqueue): a 4 GiB RAM disk, three
crypt devices on it, fio 4k direct sequential reads and writes on each; our MiB/s beside the
published ones (Linux 5.8-rc2), as ratios to ram0.

  --runtime TIME     seconds per job (default 10; 8 jobs per engine), fio's units: 500ms, 1m
  --cipher SPEC      capi:ecb(cipher_null) (default, key -), or e.g. aes-xts-plain64 (random key)
  --engine E         nbd (default: through the daemon, like the seed's block devices),
                     inprocess, or both (side by side)
  --bs SIZE          block size (default 4k); --iodepth N (default 1)
  --svg PATH         where to write the SVG chart (default ./seed.svg); --no-svg to skip
  --json             print the results as JSON instead of the table
  --markdown         also print the table in Markdown (for docs/benchmarks.md)
`;

const PUBLISHED_LABEL = 'Linux 5.8';
const ENGINE_LABEL: Record<IoEngineName, string> = { nbd: 'ucrypt over NBD', inprocess: 'ucrypt in-process' };
const COLORS: Record<IoEngineName | 'published', string> = { nbd: '#1f77b4', inprocess: '#2ca02c', published: '#d62728' };

/** MiB/s with three significant figures (four above 1000), so a slow device never shows as 0. */
const f1 = (v: number): string => (v >= 1000 ? v.toFixed(0) : v > 0 ? v.toPrecision(3) : '0');
/** A ratio with two decimals, or two significant figures below 0.01. */
const fr = (v: number): string => (v >= 0.01 || v === 0 ? v.toFixed(2) : v.toPrecision(2));

/** The seed's table with our figures (one block per engine). */
export function seedTableText(results: readonly SeedEngineResult[]): string {
  const pub = ratios(SEED_DEVICES.map((d) => d.published));
  const labelW = Math.max(...SEED_DEVICES.map((d) => d.label.length));
  const pad = ' '.repeat(labelW);
  let s = '';
  for (const r of results) {
    const ours = ratios(r.rows.map((row) => ({ read: row.read.mibs, write: row.write.mibs })));
    s += `\n${ENGINE_LABEL[r.engine]} (MiB/s; ratio to ram0, Linux's in parentheses; mean latency per I/O)\n`;
    s += `${pad}  ${'read'.padEnd(31)}  ${'write'.padEnd(31)}\n`;
    s += `${'device'.padEnd(labelW)}  ${'ucrypt'.padStart(8)} ${'Linux'.padStart(6)} ${'ratio'.padStart(13)}  ${'ucrypt'.padStart(8)} ${'Linux'.padStart(6)} ${'ratio'.padStart(13)}  ${'us/IO r'.padStart(8)} ${'us/IO w'.padStart(8)}\n`;
    r.rows.forEach((row, i) => {
      const p = row.device.published;
      const ratio = (a: number, b: number): string => `${fr(a)} (${b.toFixed(2)})`.padStart(13);
      s +=
        `${row.device.label.padEnd(labelW)}  ${f1(row.read.mibs).padStart(8)} ${String(p.read).padStart(6)} ${ratio(ours[i]!.read, pub[i]!.read)}` +
        `  ${f1(row.write.mibs).padStart(8)} ${String(p.write).padStart(6)} ${ratio(ours[i]!.write, pub[i]!.write)}` +
        `  ${row.read.clatUs.toFixed(2).padStart(8)} ${row.write.clatUs.toFixed(2).padStart(8)}\n`;
    });
  }
  return s;
}

/** The same table in Markdown (docs/benchmarks.md). */
export function seedMarkdown(results: readonly SeedEngineResult[]): string {
  const pub = ratios(SEED_DEVICES.map((d) => d.published));
  let s = '| device | engine | read MiB/s | Linux 5.8 read | read ratio to ram0 (Linux) | write MiB/s | Linux 5.8 write | write ratio to ram0 (Linux) | us per read | us per write |\n|---|---|---|---|---|---|---|---|---|---|\n';
  for (const r of results) {
    const ours = ratios(r.rows.map((row) => ({ read: row.read.mibs, write: row.write.mibs })));
    r.rows.forEach((row, i) => {
      const p = row.device.published;
      s += `| ${row.device.label} | ${r.engine} | ${f1(row.read.mibs)} | ${p.read} | ${fr(ours[i]!.read)} (${pub[i]!.read.toFixed(2)}) | ${f1(row.write.mibs)} | ${p.write} | ${fr(ours[i]!.write)} (${pub[i]!.write.toFixed(2)}) | ${row.read.clatUs.toFixed(2)} | ${row.write.clatUs.toFixed(2)} |\n`;
    });
  }
  return s;
}

function panels(results: readonly SeedEngineResult[]): ChartPanel[] {
  const categories = SEED_DEVICES.map((d) => d.label.replace(/ \(.*\)$/, '').replace(/^\/dev\//, ''));
  return (['read', 'write'] as const).map((dir) => {
    const series: ChartSeries[] = results.map((r) => ({ label: ENGINE_LABEL[r.engine], color: COLORS[r.engine], values: r.rows.map((row) => row[dir].mibs) }));
    series.push({ label: `${PUBLISHED_LABEL} (published)`, color: COLORS.published, values: SEED_DEVICES.map((d) => d.published[dir]) });
    return { title: `sequential 4k ${dir}s, MiB/s`, categories, series };
  });
}

/** The SVG panels: MiB/s, then each device's ratio to ram0 (the figure the seed is about). */
export function svgPanels(results: readonly SeedEngineResult[]): ChartPanel[] {
  const mib = panels(results);
  const pub = ratios(SEED_DEVICES.map((d) => d.published));
  const ratio = (['read', 'write'] as const).map((dir, k): ChartPanel => {
    const series: ChartSeries[] = results.map((r) => ({ label: ENGINE_LABEL[r.engine], color: COLORS[r.engine], values: ratios(r.rows.map((row) => ({ read: row.read.mibs, write: row.write.mibs }))).map((x) => x[dir]) }));
    series.push({ label: `${PUBLISHED_LABEL} (published)`, color: COLORS.published, values: pub.map((x) => x[dir]) });
    return { title: `${dir}s, ratio to ram0`, unit: 'ratio to ram0', categories: mib[k]!.categories, series };
  });
  return [...mib, ...ratio];
}

export function seedJson(results: readonly SeedEngineResult[], setup: Record<string, unknown>): Record<string, unknown> {
  const pub = ratios(SEED_DEVICES.map((d) => d.published));
  return {
    ucrypt: VERSION,
    setup,
    published: { kernel: 'Linux 5.8-rc2', vcpus: 4, runtime: '3m', devices: SEED_DEVICES.map((d, i) => ({ device: d.label, path: d.path, read: d.published.read, write: d.published.write, ratio: pub[i] })) },
    results: results.map((r) => {
      const ours = ratios(r.rows.map((row) => ({ read: row.read.mibs, write: row.write.mibs })));
      return {
        engine: r.engine,
        devices: r.rows.map((row, i) => ({
          device: row.device.label,
          path: row.device.path,
          read: { mibs: row.read.mibs, iops: row.read.iops, clat_us: row.read.clatUs, ios: row.read.ios, runtime_ms: row.read.runtimeMs, line: row.read.line },
          write: { mibs: row.write.mibs, iops: row.write.iops, clat_us: row.write.clatUs, ios: row.write.ios, runtime_ms: row.write.runtimeMs, line: row.write.line },
          ratio: ours[i],
          published: row.device.published,
        })),
      };
    }),
  };
}

/** Builds the seed's devices in a private daemon and runs the jobs over NBD. */
async function seedOverNbd(parent: CliIO, cipher: string, key: string, run: Parameters<typeof runSeedJobs>[1], say: (t: string) => void): Promise<SeedEngineResult> {
  const dir = await mkdtemp(join(tmpdir(), 'ucrypt-seed-'));
  const env = { ...parent.env, UCRYPT_RUNTIME_DIR: dir };
  const io = processIO(env, () => undefined);
  const step = async (args: string[], shown: string): Promise<void> => {
    say(`$ ${shown}\n`);
    const code = await runCli(args, io);
    if (code !== 0) throw new Error(`ucrypt ${args.join(' ')} exited with ${code}`);
  };
  try {
    await step(['daemon', '--background'], `ucrypt daemon --background     # a private daemon in ${dir}`);
    await step(['modprobe', 'brd', 'rd_nr=1', `rd_size=${SEED_RD_SIZE_KIB}`], `ucrypt modprobe brd rd_nr=1 rd_size=${SEED_RD_SIZE_KIB}`);
    for (const dev of SEED_DEVICES.slice(1)) {
      const name = dev.path.slice('/dev/mapper/'.length);
      const table = seedTable(dev, cipher, key);
      await step(['dmsetup', 'create', name, '--table', table], `echo '${seedTable(dev, cipher, key === '-' ? '-' : '<random key>')}' | ucrypt dmsetup create ${name}`);
    }
    return await runSeedJobs({ engine: 'nbd', control: () => io.control() }, run);
  } finally {
    await runCli(['daemon', '--stop'], io).catch(() => undefined);
    io.dispose();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function seed(argv: readonly string[], io: CliIO): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        runtime: { type: 'string', default: '10' },
        cipher: { type: 'string', default: NULL_CIPHER },
        engine: { type: 'string', default: 'nbd' },
        bs: { type: 'string', default: '4k' },
        iodepth: { type: 'string', default: '1' },
        svg: { type: 'string', default: 'seed.svg' },
        'no-svg': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        markdown: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      allowPositionals: false,
    }));
  } catch (err) {
    io.err(`ucrypt seed: ${errorMessage(err)}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  const engines: IoEngineName[] = [];
  for (const e of values.engine.split(',')) {
    if (e === 'both') engines.push('nbd', 'inprocess');
    else if (e === 'nbd' || e === 'inprocess') engines.push(e);
    else {
      io.err(`ucrypt seed: --engine ${e}: expected nbd, inprocess or both\n`);
      return 2;
    }
  }
  try {
    parseTime(values.runtime, 'runtime');
  } catch (err) {
    io.err(`ucrypt seed: ${errorMessage(err)}\n`);
    return 2;
  }
  const iodepth = Number(values.iodepth);
  if (!Number.isInteger(iodepth) || iodepth < 1) {
    io.err(`ucrypt seed: --iodepth ${values.iodepth}: expected a positive whole number\n`);
    return 2;
  }
  const cipher = values.cipher === 'null' ? NULL_CIPHER : values.cipher;
  const key = seedKey(cipher);
  const json = values.json;
  const say = json ? (t: string): void => io.err(t) : (t: string): void => io.out(t);
  // Ctrl-C stops the jobs; the private daemon and its directory are still removed.
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const runOpts = { runtime: values.runtime, cipher, bs: values.bs, iodepth, onLine: say, signal: abort.signal };
  const seconds = parseTime(values.runtime) / 1e6;
  say(
    `ucrypt seed: the seed experiment, ${cipher} on a ${SEED_RD_SIZE_KIB / 1048576} GiB RAM disk, fio --bs=${values.bs} --direct=1 --iodepth=${iodepth} sequential, ` +
      `${seconds} s per job, 8 jobs per engine (${[...new Set(engines)].map((e) => ENGINE_LABEL[e]).join(', ')}); ${cpus().length} CPUs here, 4 vCPUs in the published run.\n`,
  );
  const results: SeedEngineResult[] = [];
  try {
    for (const engine of [...new Set(engines)]) {
      say(`\n# ${ENGINE_LABEL[engine]}\n`);
      if (engine === 'nbd') results.push(await seedOverNbd(io, cipher, key, runOpts, say));
      else {
        say(`(in this process: modprobe brd rd_nr=1 rd_size=${SEED_RD_SIZE_KIB}, the same three tables)\n`);
        const reg = await seedRegistry(cipher, key);
        try {
          results.push(await runSeedJobs({ engine: 'inprocess', registry: reg }, runOpts));
        } finally {
          await reg.removeAll().catch(() => undefined);
          reg.rmmodBrd();
        }
      }
    }
  } catch (err) {
    io.err(`ucrypt seed: ${errorMessage(err)}\n`);
    return abort.signal.aborted ? 130 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const setup = { cipher, key: key === '-' ? '-' : 'random', rd_size_kib: SEED_RD_SIZE_KIB, bs: values.bs, iodepth, runtime: values.runtime, engines: [...new Set(engines)], cpus: cpus().length, node: process.version };
  const chartPanels = panels(results);
  let svgPath: string | undefined;
  if (!values['no-svg']) {
    svgPath = values.svg;
    const subtitle = `${cipher}, fio --bs=${values.bs} --direct=1 --iodepth=${iodepth} sequential, ${seconds} s per job, ${cpus().length} CPUs; Linux 5.8-rc2 figures: 4 vCPUs, 3 min per job`;
    await writeFile(svgPath, svgChart('The seed experiment: dm-crypt on a RAM disk', subtitle, svgPanels(results)));
  }
  if (json) {
    io.out(`${JSON.stringify({ ...seedJson(results, setup), ...(svgPath ? { svg: svgPath } : {}) }, null, 2)}\n`);
    return 0;
  }
  io.out(seedTableText(results));
  io.out(terminalBars(chartPanels));
  if (values.markdown) io.out(`\n${seedMarkdown(results)}`);
  if (svgPath) io.out(`\nSVG chart: ${svgPath}\n`);
  return 0;
}
