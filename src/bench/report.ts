// fio's reports (stat.c): the per-job block of show_thread_status_normal, the group lines of
// show_group_stats, and the JSON of show_thread_status_json / show_run_stats, with fio's field
// names. Numbers go through num2str with fio's default sig_figs (4) and kb_base (1024).

import type { DirStats, JobResult } from './engine.js';
import { DEFAULT_PERCENTILES, LatencyHistogram } from './histogram.js';
import type { JobOptions } from './options.js';
import { fixed, num2str, padInt } from './units.js';

export const SIG_FIGS = 4;
const KB_BASE = 1024;

/** Group-wide figures (struct group_run_stats), per direction. */
export interface GroupDirStats {
  /** Bytes moved by every job of the group. */
  readonly ioBytes: number;
  /** Aggregate bandwidth, bytes/s: io * 1000 / max_run. */
  readonly agg: number;
  readonly minBw: number;
  readonly maxBw: number;
  readonly minRun: number;
  readonly maxRun: number;
}

export interface GroupStats {
  readonly read: GroupDirStats | undefined;
  readonly write: GroupDirStats | undefined;
}

/** bytes/s of a direction as fio computes it: io_bytes * 1000 / runtime (integer). */
export function dirBw(d: DirStats): number {
  return d.runtimeMs > 0 ? Math.floor((d.bytes * 1000) / d.runtimeMs) : 0;
}

export function groupStats(results: readonly JobResult[]): GroupStats {
  const dir = (k: 'read' | 'write'): GroupDirStats | undefined => {
    const ds = results.map((r) => r[k]).filter((d) => d.runtimeMs > 0);
    if (ds.length === 0) return undefined;
    const ioBytes = ds.reduce((a, d) => a + d.bytes, 0);
    const maxRun = Math.max(...ds.map((d) => d.runtimeMs));
    const minRun = Math.min(...ds.map((d) => d.runtimeMs));
    const bws = ds.map(dirBw);
    return { ioBytes, agg: Math.floor((ioBytes * 1000) / maxRun), minBw: Math.min(...bws), maxBw: Math.max(...bws), minRun, maxRun };
  };
  return { read: dir('read'), write: dir('write') };
}

/** One group status line: `   READ: bw=508MiB/s (533MB/s), 508MiB/s-508MiB/s (533MB/s-533MB/s), io=89.3GiB (95.9GB), run=180000-180000msec`. */
export function groupLine(label: 'READ' | 'WRITE', g: GroupDirStats): string {
  const n = (v: number, pow2: boolean, unit: 'byte' | 'bytepersec'): string => num2str(v, SIG_FIGS, 1, pow2, unit);
  return (
    `${label.padStart(7)}: bw=${n(g.agg, true, 'bytepersec')} (${n(g.agg, false, 'bytepersec')}), ` +
    `${n(g.minBw, true, 'bytepersec')}-${n(g.maxBw, true, 'bytepersec')} (${n(g.minBw, false, 'bytepersec')}-${n(g.maxBw, false, 'bytepersec')}), ` +
    `io=${n(g.ioBytes, true, 'byte')} (${n(g.ioBytes, false, 'byte')}), run=${g.minRun}-${g.maxRun}msec`
  );
}

export function groupReport(g: GroupStats, groupid = 0): string {
  let s = `\nRun status group ${groupid} (all jobs):\n`;
  if (g.read) s += `${groupLine('READ', g.read)}\n`;
  if (g.write) s += `${groupLine('WRITE', g.write)}\n`;
  return s;
}

/** The line fio prints for each job before starting. */
export function jobHeader(o: JobOptions): string {
  const b = `${o.bs}B-${o.bs}B`;
  return `${o.name}: (g=0): rw=${o.rw === 'rw' ? 'rw' : o.rw}, bs=(R) ${b}, (W) ${b}, (T) ${b}, ioengine=${o.ioengine}, iodepth=${o.iodepth}\n`;
}

/** display_lat: `    clat (usec): min=..., max=..., avg=..., stdev=...` in the largest unit that keeps all four above 1000. */
function displayLat(name: string, h: LatencyHistogram): string {
  let { min, max, mean } = h.stat;
  let dev = h.stat.stddev;
  let base = '(nsec)';
  if (min > 1e6 && max > 1e6 && mean > 1e6 && dev > 1e6) {
    [min, max, mean, dev] = [Math.floor(min / 1e6), Math.floor(max / 1e6), mean / 1e6, dev / 1e6];
    base = '(msec)';
  } else if (min > 1000 && max > 1000 && mean > 1000 && dev > 1000) {
    [min, max, mean, dev] = [Math.floor(min / 1000), Math.floor(max / 1000), mean / 1000, dev / 1000];
    base = '(usec)';
  }
  return `    ${name} ${base}: min=${num2str(min, 6, 1, false, 'none')}, max=${num2str(max, 6, 1, false, 'none')}, avg=${fixed(mean, 2, 5)}, stdev=${fixed(dev, 2, 5)}\n`;
}

/** show_clat_percentiles: four to a line, in nsec, usec or msec by range. */
function percentileTable(h: LatencyHistogram, pre = 'clat'): string {
  const vals = h.percentiles();
  if (h.stat.n === 0) return '';
  const minv = Math.min(...vals);
  const maxv = Math.max(...vals);
  let divisor = 1;
  let unit = 'nsec';
  if (minv > 2000000 && maxv > 99999999) {
    divisor = 1e6;
    unit = 'msec';
  } else if (minv > 2000 && maxv > 99999) {
    divisor = 1000;
    unit = 'usec';
  }
  const scaled = vals.map((v) => (divisor === 1 ? v : Math.ceil(v / divisor)));
  const width = Math.max(5, Math.floor(Math.log10(Math.max(1, Math.floor(maxv / divisor)))) + 1);
  const perLine = Math.floor((80 - 7) / (2 + 10 + width));
  let s = `    ${pre} percentiles (${unit}):\n     |`;
  for (let j = 0; j < scaled.length; j++) {
    if (j !== 0 && j % perLine === 0) s += '     |';
    const last = j === scaled.length - 1;
    s += ` ${fixed(DEFAULT_PERCENTILES[j]!, 2, 5)}th=[${padInt(scaled[j]!, width)}]${last ? '\n' : ','}`;
    if (!last && j % perLine === perLine - 1) s += '\n';
  }
  return s;
}

/** show_lat_n/u/m: the share of I/Os in each latency bucket, five to a line. */
function latencyDistribution(h: LatencyHistogram): string {
  const b = h.latencyBuckets();
  const edges = ['2', '4', '10', '20', '50', '100', '250', '500', '750', '1000'];
  let s = '';
  const show = (vals: number[], names: string[], unit: string): void => {
    let line = 0;
    let open = false;
    for (let i = 0; i < vals.length; i++) {
      let v = vals[i]!;
      if (v <= 0) continue;
      if (v < 0.01) v = 0.01;
      if (!open || line === 5) {
        if (open) s += '\n';
        s += `  lat (${unit})   : `;
        open = true;
        line = 0;
      }
      if (line) s += ', ';
      s += `${names[i]}=${fixed(v, 2)}%`;
      line++;
    }
    if (open) s += '\n';
  };
  show(b.nsec, edges, 'nsec');
  show(b.usec, edges, 'usec');
  show(b.msec, [...edges, '2000', '>=2000'], 'msec');
  return s;
}

function ddirStatus(label: 'read' | 'write', d: DirStats, agg: number): string {
  const bw = dirBw(d);
  const iops = d.runtimeMs > 0 ? Math.floor((1000 * d.ios) / d.runtimeMs) : 0;
  let s = `  ${label}: IOPS=${num2str(iops, SIG_FIGS, 1, false, 'none')}, BW=${num2str(bw, SIG_FIGS, 1, true, 'bytepersec')} (${num2str(bw, SIG_FIGS, 1, false, 'bytepersec')})(${num2str(d.bytes, SIG_FIGS, 1, true, 'byte')}/${d.runtimeMs}msec)${label === 'write' ? '; 0 zone resets' : ''}\n`;
  s += displayLat('clat', d.clat);
  s += displayLat(' lat', d.clat);
  s += percentileTable(d.clat);
  if (d.bw.n > 0) {
    let { min, max, mean } = d.bw;
    let dev = d.bw.stddev;
    let unit = 'KiB';
    const per = agg > 0 ? Math.min(100, (mean * 100) / (agg / 1024)) : 100;
    if (mean > KB_BASE * KB_BASE) {
      [min, max, mean, dev] = [min / KB_BASE, max / KB_BASE, mean / KB_BASE, dev / KB_BASE];
      unit = 'MiB';
    }
    s += `   bw (${unit.padStart(5)}/s): min=${padInt(min, 5)}, max=${padInt(max, 5)}, per=${fixed(per, 2)}%, avg=${fixed(mean, 2, 5)}, stdev=${fixed(dev, 2, 5)}, samples=${d.bw.n}\n`;
    s += `   iops        : min=${padInt(d.iops.min, 5)}, max=${padInt(d.iops.max, 5)}, avg=${fixed(d.iops.mean, 2, 5)}, stdev=${fixed(d.iops.stddev, 2, 5)}, samples=${d.iops.n}\n`;
  }
  return s;
}

const pct1 = (v: number, total: number): string => (total > 0 ? ((v * 100) / total).toFixed(1) : '0.0');

/** The per-job block (show_thread_status_normal). */
export function jobReport(r: JobResult, g: GroupStats, pid = process.pid): string {
  let s = `${r.name}: (groupid=0, jobs=${r.jobs}): err=${String(r.error).padStart(2)}: pid=${pid}: ${ctime(r.startedAt)}\n`;
  if (r.read.ios > 0 || r.read.runtimeMs > 0) s += ddirStatus('read', r.read, g.read?.agg ?? 0);
  if (r.write.ios > 0 || r.write.runtimeMs > 0) s += ddirStatus('write', r.write, g.write?.agg ?? 0);
  const all = r.read.clat.stat.n > 0 && r.write.clat.stat.n > 0 ? mergedHist(r) : r.read.clat.stat.n > 0 ? r.read.clat : r.write.clat;
  s += latencyDistribution(all);
  s += `  cpu          : usr=${fixed(r.usrCpu, 2)}%, sys=${fixed(r.sysCpu, 2)}%, ctx=${r.ctx}, majf=${r.majf}, minf=${r.minf}\n`;
  const total = r.depths.reduce((a, b) => a + b, 0);
  const dl = ['1', '2', '4', '8', '16', '32', '>=64'];
  s += `  IO depths    : ${dl.map((l, i) => `${l}=${pct1(r.depths[i]!, total)}%`).join(', ')}\n`;
  s += '     submit    : 0=0.0%, 4=100.0%, 8=0.0%, 16=0.0%, 32=0.0%, 64=0.0%, >=64=0.0%\n';
  s += '     complete  : 0=0.0%, 4=100.0%, 8=0.0%, 16=0.0%, 32=0.0%, 64=0.0%, >=64=0.0%\n';
  s += `     issued rwts: total=${r.read.ios},${r.write.ios},0,0 short=0,0,0,0 dropped=0,0,0,0\n`;
  s += `     latency   : target=0, window=0, percentile=100.00%, depth=${r.opts.iodepth}\n`;
  return s;
}

function mergedHist(r: JobResult): LatencyHistogram {
  const h = new LatencyHistogram();
  h.merge(r.read.clat);
  h.merge(r.write.clat);
  return h;
}

/** ctime(3)'s shape: `Tue Nov 24 20:42:03 2026`. */
export function ctime(d: Date): string {
  return d.toString().replace(/ GMT.*$/, '').replace(/^(\w+) (\w+) (\d+) (\d+) (.*)$/, '$1 $2 $3 $5 $4');
}

// ---- JSON ----------------------------------------------------------------------------------

const f6 = (v: number): number => Number(v.toFixed(6));

function latJson(h: LatencyHistogram, withPercentiles: boolean): Record<string, unknown> {
  const o: Record<string, unknown> = { min: h.stat.n ? Math.round(h.stat.min) : 0, max: h.stat.n ? Math.round(h.stat.max) : 0, mean: f6(h.stat.mean), stddev: f6(h.stat.stddev), N: h.stat.n };
  if (withPercentiles && h.stat.n > 0) {
    const vals = h.percentiles();
    o['percentile'] = Object.fromEntries(DEFAULT_PERCENTILES.map((p, i) => [p.toFixed(6), vals[i]!]));
  }
  return o;
}

function dirJson(d: DirStats, agg: number): Record<string, unknown> {
  const bwBytes = dirBw(d);
  return {
    io_bytes: d.bytes,
    io_kbytes: Math.floor(d.bytes / 1024),
    bw_bytes: bwBytes,
    bw: Math.floor(bwBytes / 1024),
    iops: d.runtimeMs > 0 ? f6((d.ios * 1000) / d.runtimeMs) : 0,
    runtime: d.runtimeMs,
    total_ios: d.ios,
    short_ios: 0,
    drop_ios: 0,
    slat_ns: { min: 0, max: 0, mean: 0, stddev: 0, N: 0 },
    clat_ns: latJson(d.clat, true),
    lat_ns: latJson(d.clat, false),
    bw_min: d.bw.n ? Math.round(d.bw.min) : 0,
    bw_max: d.bw.n ? Math.round(d.bw.max) : 0,
    bw_agg: agg > 0 && d.bw.n ? f6(Math.min(100, (d.bw.mean * 100) / (agg / 1024))) : 0,
    bw_mean: f6(d.bw.mean),
    bw_dev: f6(d.bw.stddev),
    bw_samples: d.bw.n,
    iops_min: d.iops.n ? Math.round(d.iops.min) : 0,
    iops_max: d.iops.n ? Math.round(d.iops.max) : 0,
    iops_mean: f6(d.iops.mean),
    iops_stddev: f6(d.iops.stddev),
    iops_samples: d.iops.n,
  };
}

function emptyDir(): Record<string, unknown> {
  const z = { min: 0, max: 0, mean: 0, stddev: 0, N: 0 };
  return { io_bytes: 0, io_kbytes: 0, bw_bytes: 0, bw: 0, iops: 0, runtime: 0, total_ios: 0, short_ios: 0, drop_ios: 0, slat_ns: z, clat_ns: z, lat_ns: z, bw_min: 0, bw_max: 0, bw_agg: 0, bw_mean: 0, bw_dev: 0, bw_samples: 0, iops_min: 0, iops_max: 0, iops_mean: 0, iops_stddev: 0, iops_samples: 0 };
}

export function jobJson(r: JobResult, g: GroupStats): Record<string, unknown> {
  const all = r.read.clat.stat.n > 0 && r.write.clat.stat.n > 0 ? mergedHist(r) : r.read.clat.stat.n > 0 ? r.read.clat : r.write.clat;
  const b = all.latencyBuckets();
  const edges = ['2', '4', '10', '20', '50', '100', '250', '500', '750', '1000'];
  const total = r.depths.reduce((a, x) => a + x, 0);
  const dl = ['1', '2', '4', '8', '16', '32', '>=64'];
  return {
    jobname: r.name,
    groupid: 0,
    error: r.error,
    ...(r.errorMessage === undefined ? {} : { error_message: r.errorMessage }),
    eta: 0,
    elapsed: Math.max(1, Math.round(r.elapsedMs / 1000)),
    'job options': { ...r.opts.given },
    read: r.read.runtimeMs > 0 ? dirJson(r.read, g.read?.agg ?? 0) : emptyDir(),
    write: r.write.runtimeMs > 0 ? dirJson(r.write, g.write?.agg ?? 0) : emptyDir(),
    trim: emptyDir(),
    sync: { total_ios: 0, lat_ns: { min: 0, max: 0, mean: 0, stddev: 0, N: 0 } },
    job_runtime: r.runtimeMs,
    usr_cpu: f6(r.usrCpu),
    sys_cpu: f6(r.sysCpu),
    ctx: r.ctx,
    majf: r.majf,
    minf: r.minf,
    iodepth_level: Object.fromEntries(dl.map((l, i) => [l, f6(total ? (r.depths[i]! * 100) / total : 0)])),
    iodepth_submit: { '0': 0, '4': 100, '8': 0, '16': 0, '32': 0, '64': 0, '>=64': 0 },
    iodepth_complete: { '0': 0, '4': 100, '8': 0, '16': 0, '32': 0, '64': 0, '>=64': 0 },
    latency_ns: Object.fromEntries(edges.map((e, i) => [e, f6(b.nsec[i]!)])),
    latency_us: Object.fromEntries(edges.map((e, i) => [e, f6(b.usec[i]!)])),
    latency_ms: Object.fromEntries([...edges, '2000', '>=2000'].map((e, i) => [e, f6(b.msec[i]!)])),
    latency_depth: r.opts.iodepth,
    latency_target: 0,
    latency_percentile: 100,
    latency_window: 0,
  };
}

export function fioJson(results: readonly JobResult[], g: GroupStats, globals: Readonly<Record<string, string>>, version: string): Record<string, unknown> {
  const t = Date.now();
  return {
    'fio version': `ucrypt-fio-${version}`,
    timestamp: Math.floor(t / 1000),
    timestamp_ms: t,
    time: ctime(new Date(t)),
    'global options': { ...globals },
    jobs: results.map((r) => jobJson(r, g)),
    disk_util: [],
  };
}
