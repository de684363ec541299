// Running fio jobs: opening each job's target with its engine, running `numjobs` copies
// concurrently, and rendering fio's report.
//
//   engine     --filename                         what a job does I/O through
//   nbd        nbd+unix:///NAME?socket=P, nbd://   that URI (one connection per job)
//   nbd        /dev/mapper/NAME, /dev/ramN, dm-N   the daemon's export of that device (its nbd.uri)
//   inprocess  any device path                     a Registry in this process (the API's, or
//                                                  one built by the CLI's --stack commands)

import type { Control } from '../cli/io.js';
import type { Registry } from '../dm/registry.js';
import { NbdClient, isNbdUri } from '../nbd/client.js';
import type { IoTarget, JobResult, Progress } from './engine.js';
import { emptyResult, mergeResults, runJob } from './engine.js';
import type { FioArgs, JobOptions } from './options.js';
import { hasWrites } from './options.js';
import type { GroupStats } from './report.js';
import { fioJson, groupReport, groupStats, jobHeader, jobReport } from './report.js';

export interface FioDeps {
  /** For --ioengine=inprocess: the registry whose devices the jobs use. */
  readonly registry?: Registry;
  /** For device paths with the NBD engine: the daemon's control plane (asks it for nbd.uri). */
  readonly control?: () => Promise<Control>;
  /** A live status line (fio's eta line); called about once a second. */
  readonly onProgress?: (line: string) => void;
  /** Stops every job early; what ran so far is reported. */
  readonly signal?: AbortSignal;
}

export interface OpenedTarget {
  readonly target: IoTarget;
  close(): Promise<void>;
}

/** The NBD export name of a device path: /dev/mapper/NAME -> NAME, /dev/ramN -> ramN. */
export async function exportNameOf(path: string, control: (() => Promise<Control>) | undefined): Promise<string> {
  let m = /^\/dev\/mapper\/(.+)$/.exec(path);
  if (m) return m[1]!;
  m = /^\/dev\/(ram\d+)$/.exec(path);
  if (m) return m[1]!;
  m = /^\/dev\/dm-(\d+)$/.exec(path);
  if (m && control) {
    const list = await (await control()).call<{ name: string; minor: number }[]>('dm.list');
    const hit = list.find((d) => d.minor === Number(m![1]));
    if (hit) return hit.name;
    throw Object.assign(new Error(`${path}: No such device`), { errno: 19 });
  }
  if (!path.startsWith('/')) return path;
  throw Object.assign(new Error(`${path}: not a ucrypt device (use /dev/mapper/NAME, /dev/ramN, /dev/dm-N or an NBD URI)`), { errno: 19 });
}

/** Resolves a job's filename to an NBD URI (asking the daemon for device paths). */
export async function nbdUriOf(filename: string, control: (() => Promise<Control>) | undefined): Promise<string> {
  if (isNbdUri(filename)) return filename;
  if (!control) throw Object.assign(new Error(`${filename}: no daemon to resolve the device through`), { errno: 19 });
  const name = await exportNameOf(filename, control);
  const r = await (await control()).call<{ uris: string[] }>('nbd.uri', { name });
  // Prefer the local unix socket: the cheapest transport to a daemon on this host.
  const uri = r.uris.find((u) => u.startsWith('nbd+unix:')) ?? r.uris.find((u) => u.startsWith('nbd:'));
  if (!uri) throw Object.assign(new Error(`${filename}: the daemon serves no plain NBD listener for ${name} (${r.uris.join(', ')})`), { errno: 19 });
  return uri;
}

export async function openTarget(job: JobOptions, deps: FioDeps): Promise<OpenedTarget> {
  if (job.ioengine === 'inprocess') {
    if (!deps.registry) throw Object.assign(new Error('the inprocess engine needs devices in this process (ucrypt fio --stack "..." or the library API)'), { errno: 22 });
    const dev = await deps.registry.device(job.filename);
    if (!dev) throw Object.assign(new Error(`${job.filename}: No such device`), { errno: 19 });
    return { target: dev, close: async () => undefined };
  }
  const uri = await nbdUriOf(job.filename, deps.control);
  // A server that is still starting may refuse for a moment: retry that (only that) for 3 s.
  let client: NbdClient;
  for (let waited = 0; ; waited += 100) {
    try {
      client = await NbdClient.connect(uri);
      break;
    } catch (err) {
      const code = (err as { errno?: unknown }).errno;
      if (waited >= 3000 || (code !== 111 && code !== 2)) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  if (client.readOnly && hasWrites(job.rw)) {
    await client.close();
    throw Object.assign(new Error(`${job.filename}: the export is read-only`), { errno: 30 });
  }
  return { target: client, close: () => client.close() };
}

export interface FioRun {
  readonly results: JobResult[];
  readonly group: GroupStats;
  /** Whether any job failed (fio then exits 1). */
  readonly failed: boolean;
  /** Lines fio prints for errors (`fio: ...`). */
  readonly errors: string[];
}

/** One `ucrypt fio` invocation: every job (and its numjobs copies) runs concurrently, in one group. */
export async function runFio(args: FioArgs, deps: FioDeps = {}): Promise<FioRun> {
  const errors: string[] = [];
  const progress = progressReporter(args.jobs, deps.onProgress);
  const perSpec = await Promise.all(
    args.jobs.map(async (job, specIndex) =>
      Promise.all(
        Array.from({ length: job.numjobs }, async (_, k): Promise<JobResult | undefined> => {
          const index = specIndex * 1024 + k;
          let opened: OpenedTarget;
          try {
            opened = await openTarget(job, deps);
          } catch (err) {
            errors.push(`fio: ${job.name}: ${err instanceof Error ? err.message : String(err)}`);
            return failedResult(job, err);
          }
          try {
            return await runJob(job, opened.target, { jobIndex: index, onProgress: (p) => progress.update(index, p), ...(deps.signal ? { signal: deps.signal } : {}) });
          } catch (err) {
            errors.push(`fio: ${job.name}: ${err instanceof Error ? err.message : String(err)}`);
            return failedResult(job, err);
          } finally {
            await opened.close().catch(() => undefined);
          }
        }),
      ),
    ),
  );
  progress.done();
  const results: JobResult[] = [];
  args.jobs.forEach((job, i) => {
    const rs = perSpec[i]!.filter((r): r is JobResult => r !== undefined);
    for (const r of rs) if (r.error !== 0 && r.errorMessage) errors.push(`fio: ${r.errorMessage}`);
    if (job.groupReporting && rs.length > 1) results.push(mergeResults(rs));
    else results.push(...rs);
  });
  return { results, group: groupStats(results), failed: results.some((r) => r.error !== 0), errors: [...new Set(errors)] };
}

function failedResult(job: JobOptions, err: unknown): JobResult {
  const errno = (err as { errno?: unknown } | null)?.errno;
  return emptyResult(job, typeof errno === 'number' ? Math.abs(errno) : 5);
}

/** The normal report: job headers, each job's block, the group lines (errors go to stderr, as fio's log_err). */
export function normalReport(args: FioArgs, run: FioRun, version: string): string {
  let s = '';
  const seen = new Set<string>();
  for (const j of args.jobs) {
    const h = jobHeader(j);
    if (!seen.has(h)) s += h;
    seen.add(h);
  }
  const procs = args.jobs.reduce((a, j) => a + j.numjobs, 0);
  s += `ucrypt-fio-${version}\nStarting ${procs} process${procs === 1 ? '' : 'es'}\n`;
  for (const r of run.results) s += `\n${jobReport(r, run.group)}`;
  s += groupReport(run.group);
  return s;
}

export function jsonReport(args: FioArgs, run: FioRun, version: string): string {
  return `${JSON.stringify(fioJson(run.results, run.group, args.globals, version), null, 2)}\n`;
}

/** fio's eta line: `Jobs: 1 (f=1): [R(1)][45.0%][r=508MiB/s][r=130k IOPS][eta 00m:05s]`. */
function progressReporter(jobs: readonly JobOptions[], sink: ((line: string) => void) | undefined): { update(i: number, p: Progress): void; done(): void } {
  if (!sink) return { update: () => undefined, done: () => undefined };
  const last = new Map<number, { p: Progress; at: number; prev?: { p: Progress; at: number } }>();
  let shown = 0;
  return {
    update(i, p) {
      const at = Date.now();
      const prev = last.get(i);
      last.set(i, { p, at, ...(prev ? { prev: { p: prev.p, at: prev.at } } : {}) });
      if (at - shown < 900) return;
      shown = at;
      let rbw = 0;
      let wbw = 0;
      let riops = 0;
      let wiops = 0;
      let pct = 0;
      let eta = 0;
      for (const e of last.values()) {
        if (e.prev) {
          const dt = (e.at - e.prev.at) / 1000 || 1;
          rbw += (e.p.readBytes - e.prev.p.readBytes) / dt;
          wbw += (e.p.writeBytes - e.prev.p.writeBytes) / dt;
          riops += (e.p.readIos - e.prev.p.readIos) / dt;
          wiops += (e.p.writeIos - e.prev.p.writeIos) / dt;
        }
        if (e.p.totalMs) {
          pct = Math.max(pct, Math.min(100, (e.p.elapsedMs * 100) / e.p.totalMs));
          eta = Math.max(eta, (e.p.totalMs - e.p.elapsedMs) / 1000);
        }
      }
      const n = jobs.reduce((a, j) => a + j.numjobs, 0);
      const mode = jobs[0]!.rw.startsWith('rand') ? (jobs[0]!.rw === 'randread' ? 'r' : jobs[0]!.rw === 'randwrite' ? 'w' : 'm') : jobs[0]!.rw === 'read' ? 'R' : jobs[0]!.rw === 'write' ? 'W' : 'M';
      const mib = (b: number): string => `${(b / 1048576).toFixed(1)}MiB/s`;
      const k = (v: number): string => (v >= 1000 ? `${(v / 1000).toFixed(1)}k` : v.toFixed(0));
      const etaStr = `${String(Math.floor(eta / 60)).padStart(2, '0')}m:${String(Math.ceil(eta % 60)).padStart(2, '0')}s`;
      sink(`Jobs: ${n} (f=${n}): [${mode}(${n})][${pct.toFixed(1)}%][r=${mib(rbw)},w=${mib(wbw)}][r=${k(riops)},w=${k(wiops)} IOPS][eta ${etaStr}]`);
    },
    done() {
      sink('');
    },
  };
}
