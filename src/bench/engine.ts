// The fio job loop: `iodepth` submitters per job share one offset generator (sequential with
// wrap-around and `loops`, or random over the region without repeats per loop, fio's random
// map), stop at `size * loops` bytes or at `runtime` (or only at runtime with `time_based`),
// after an unmeasured `ramp_time`. Every completion is timed (clat; lat is the same here, as the
// submission cost is part of the call) into fio's histogram, and bandwidth/IOPS are sampled
// every 500 ms (bw_avg_time / iops_avg_time). Each I/O's result is checked: the first error
// ends the job and is reported as fio's `err=`.

import { randomBytes, randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { LatencyHistogram, RunningStat } from './histogram.js';
import type { JobOptions } from './options.js';
import { hasReads, hasWrites, isRandom } from './options.js';
import { VerifyError, checkVerifyBlock, fillVerifyBlock } from './verify.js';

/** What a job does I/O on: a BlockDevice, or an NBD connection with the same shape. */
export interface IoTarget {
  readonly size: number;
  read(offset: number, buf: Uint8Array): Promise<void>;
  write(offset: number, buf: Uint8Array): Promise<void>;
  flush(): Promise<void>;
}

export type Dir = 'read' | 'write';

export class DirStats {
  bytes = 0;
  ios = 0;
  readonly clat = new LatencyHistogram();
  readonly bw = new RunningStat();
  readonly iops = new RunningStat();
  /** Milliseconds this direction ran (the job's runtime when it did any I/O). */
  runtimeMs = 0;

  merge(o: DirStats): void {
    this.bytes += o.bytes;
    this.ios += o.ios;
    this.clat.merge(o.clat);
    this.bw.merge(o.bw);
    this.iops.merge(o.iops);
    this.runtimeMs = Math.max(this.runtimeMs, o.runtimeMs);
  }
}

export interface JobResult {
  readonly name: string;
  readonly opts: JobOptions;
  /** Jobs folded into this result (group_reporting). */
  jobs: number;
  /** errno of the first failed I/O, 0 when none. */
  error: number;
  errorMessage: string | undefined;
  readonly read: DirStats;
  readonly write: DirStats;
  runtimeMs: number;
  elapsedMs: number;
  usrCpu: number;
  sysCpu: number;
  ctx: number;
  majf: number;
  minf: number;
  /** Submissions by in-flight depth: 1, 2, 4, 8, 16, 32, >=64. */
  readonly depths: Float64Array;
  readonly startedAt: Date;
}

export interface Progress {
  readonly elapsedMs: number;
  readonly totalMs: number | undefined;
  readonly readBytes: number;
  readonly writeBytes: number;
  readonly readIos: number;
  readonly writeIos: number;
  readonly ramping: boolean;
}

export interface RunJobOptions {
  /** Called about once a second while the job runs. */
  readonly onProgress?: (p: Progress) => void;
  /** Salt for verify patterns (the job number). */
  readonly jobIndex?: number;
  /** Ends the job early (fio on SIGINT): I/O in flight completes and the results stand. */
  readonly signal?: AbortSignal;
}

/** The errno number of a failed I/O: ours carry names, Node's carry errno (negative) or code. */
const ERRNO: Record<string, number> = { EPERM: 1, EIO: 5, ENXIO: 6, ENOMEM: 12, EBUSY: 16, ENODEV: 19, EINVAL: 22, ENOSPC: 28, EROFS: 30, EILSEQ: 84, ENOTSUP: 95, ESHUTDOWN: 108, ECONNRESET: 104, EPIPE: 32 };
export function errnoNumber(err: unknown): number {
  const e = err as { errno?: unknown; code?: unknown } | null;
  if (typeof e?.errno === 'number') return Math.abs(e.errno);
  if (typeof e?.errno === 'string' && ERRNO[e.errno] !== undefined) return ERRNO[e.errno]!;
  if (typeof e?.code === 'string' && ERRNO[e.code] !== undefined) return ERRNO[e.code]!;
  return 5;
}

export function depthBucket(depth: number): number {
  if (depth <= 1) return 0;
  if (depth >= 64) return 6;
  return Math.min(6, Math.floor(Math.log2(depth)));
}

/** The job's region: [start, start + len), whole blocks, inside the device. */
export function jobRegion(opts: JobOptions, deviceSize: number): { start: number; len: number } {
  const bs = opts.bs;
  const off = 'percent' in opts.offset ? Math.floor((deviceSize * opts.offset.percent) / 100) : opts.offset.bytes;
  const start = Math.floor(off / bs) * bs;
  if (start >= deviceSize) throw new RangeError(`offset ${off} is beyond the end of ${opts.filename} (${deviceSize} bytes)`);
  let len = deviceSize - start;
  if (opts.size) len = Math.min(len, 'percent' in opts.size ? Math.floor((deviceSize * opts.size.percent) / 100) : opts.size.bytes);
  len = Math.floor(len / bs) * bs;
  if (len < bs) throw new RangeError(`the region of ${opts.filename} (${len} bytes from ${start}) is smaller than one block (${bs})`);
  return { start, len };
}

/** Offsets of one pass over a region, each block once in random order (fio's random map). */
class RandomMap {
  private readonly perm: Uint32Array | undefined;
  private i = 0;
  constructor(private readonly blocks: number) {
    if (blocks <= 1 << 24) {
      this.perm = new Uint32Array(blocks);
      for (let k = 0; k < blocks; k++) this.perm[k] = k;
      this.shuffle();
    }
  }
  private shuffle(): void {
    const p = this.perm!;
    for (let k = p.length - 1; k > 0; k--) {
      const j = Math.floor(Math.random() * (k + 1));
      const t = p[k]!;
      p[k] = p[j]!;
      p[j] = t;
    }
  }
  next(): number {
    if (!this.perm) return randomInt(this.blocks);
    if (this.i === this.blocks) {
      this.shuffle();
      this.i = 0;
    }
    return this.perm[this.i++]!;
  }
}

const now = (): number => performance.now();

/** Runs one job (one of `numjobs`) on `target` and returns its statistics. */
export async function runJob(opts: JobOptions, target: IoTarget, run: RunJobOptions = {}): Promise<JobResult> {
  const { bs } = opts;
  const region = jobRegion(opts, target.size);
  const blocks = region.len / bs;
  const random = isRandom(opts.rw);
  const reads = hasReads(opts.rw);
  const writes = hasWrites(opts.rw);
  const mixed = reads && writes;
  const verify = opts.verify === 'crc32c';
  const jobSeed = (run.jobIndex ?? 0) * 0x27d4eb2d;
  const file = opts.filename;

  const result = emptyResult(opts, 0);

  // Generation of each block written (verify), 0 = never written by this job.
  const generation = verify && writes ? new Uint32Array(blocks) : undefined;
  const seqPos = { read: 0, write: 0 };
  const rmap = random ? new RandomMap(blocks) : undefined;
  const bytesLimit = opts.timeBased ? Infinity : region.len * opts.loops;
  let issuedBytes = 0;
  let stop = false;
  let inflight = 0;

  const t0 = now();
  const rampEnd = t0 + opts.rampUs / 1000;
  let ramping = opts.rampUs > 0;
  let measureStart = ramping ? Infinity : t0;
  let deadline = opts.runtimeUs === undefined ? Infinity : (ramping ? rampEnd : t0) + opts.runtimeUs / 1000;
  const cpu0 = process.cpuUsage();
  const ru0 = process.resourceUsage();

  // Bandwidth/IOPS samples every 500 ms, and progress reports.
  let lastSample = t0;
  let sampleBytes = { read: 0, write: 0 };
  let sampleIos = { read: 0, write: 0 };
  const takeSample = (t: number): void => {
    const dt = (t - lastSample) / 1000;
    if (dt <= 0) return;
    for (const d of ['read', 'write'] as const) {
      if ((d === 'read' && !reads) || (d === 'write' && !writes)) continue;
      result[d].bw.add(sampleBytes[d] / 1024 / dt);
      result[d].iops.add(sampleIos[d] / dt);
    }
    sampleBytes = { read: 0, write: 0 };
    sampleIos = { read: 0, write: 0 };
    lastSample = t;
  };
  let lastProgress = t0;
  /** Samples and progress, checked at each submission (in-process I/O may never yield to timers). */
  const tick = (t: number): void => {
    if (!ramping && t - lastSample >= 500) takeSample(t);
    if (run.onProgress && t - lastProgress >= 1000) {
      lastProgress = t;
      const total = opts.runtimeUs === undefined ? undefined : opts.rampUs / 1000 + opts.runtimeUs / 1000;
      run.onProgress({ elapsedMs: t - t0, totalMs: total, readBytes: result.read.bytes, writeBytes: result.write.bytes, readIos: result.read.ios, writeIos: result.write.ios, ramping });
    }
  };

  const beginMeasure = (t: number): void => {
    ramping = false;
    measureStart = t;
    lastSample = t;
    sampleBytes = { read: 0, write: 0 };
    sampleIos = { read: 0, write: 0 };
    for (const d of [result.read, result.write]) {
      d.bytes = 0;
      d.ios = 0;
    }
    result.read.clat.reset();
    result.write.clat.reset();
    result.depths.fill(0);
    issuedBytes = 0;
    if (opts.runtimeUs !== undefined) deadline = t + opts.runtimeUs / 1000;
  };

  /** The next I/O, or -1 when the job is done. Writes the direction into `dirOut`. */
  const dirOut: { dir: Dir } = { dir: 'read' };
  const nextOffset = (): number => {
    if (stop || run.signal?.aborted) return -1;
    const t = now();
    if (ramping && t >= rampEnd) beginMeasure(t);
    tick(t);
    if (t >= deadline || issuedBytes >= bytesLimit) return -1;
    const dir: Dir = mixed ? (Math.random() * 100 < opts.rwmixread ? 'read' : 'write') : reads ? 'read' : 'write';
    dirOut.dir = dir;
    issuedBytes += bs;
    if (rmap) return region.start + rmap.next() * bs;
    const pos = seqPos[dir];
    seqPos[dir] = pos + bs >= region.len ? 0 : pos + bs;
    return region.start + pos;
  };

  const fail = (err: unknown): void => {
    if (result.error !== 0) return;
    result.error = err instanceof VerifyError ? 84 : errnoNumber(err);
    result.errorMessage = err instanceof Error ? err.message : String(err);
    stop = true;
  };

  const scramble = randomBytes(bs);
  const submitter = async (): Promise<void> => {
    // Shared memory, as the NBD server's pooled buffers: a crypt device's kcryptd workers
    // decrypt into it and encrypt from it directly (no bounce copy on this thread).
    const buf = new Uint8Array(new SharedArrayBuffer(bs));
    buf.set(scramble);
    for (;;) {
      const off = nextOffset();
      if (off < 0) return;
      const dir = dirOut.dir;
      const block = (off - region.start) / bs;
      if (dir === 'write' && generation) {
        const gen = generation[block]! + 1;
        fillVerifyBlock(buf, off, gen, jobSeed);
        generation[block] = gen;
      }
      inflight++;
      if (!ramping) result.depths[depthBucket(inflight)]!++;
      const start = now();
      try {
        if (dir === 'read') await target.read(off, buf);
        else await target.write(off, buf);
      } catch (err) {
        inflight--;
        fail(new IoFailure(err, dir, off, bs, file));
        return;
      }
      const end = now();
      inflight--;
      if (!ramping) {
        const st = result[dir];
        st.bytes += bs;
        st.ios++;
        st.clat.add(Math.round((end - start) * 1e6));
        sampleBytes[dir] += bs;
        sampleIos[dir]++;
      }
      if (dir === 'read' && verify) {
        try {
          if (!generation || generation[block] !== 0) checkVerifyBlock(buf, off, file);
        } catch (err) {
          fail(err);
          return;
        }
      }
    }
  };

  await Promise.all(Array.from({ length: opts.iodepth }, submitter));
  const tEnd = now();
  if (ramping) beginMeasure(tEnd);
  takeSample(tEnd);

  // The verify phase (fio's do_verify): read back every block written, in order.
  if (generation && result.error === 0) {
    let next = 0;
    const checker = async (): Promise<void> => {
      const buf = new Uint8Array(new SharedArrayBuffer(bs));
      while (next < blocks && result.error === 0) {
        const b = next++;
        if (generation[b] === 0) continue;
        const off = region.start + b * bs;
        const start = now();
        try {
          await target.read(off, buf);
        } catch (err) {
          fail(new IoFailure(err, 'read', off, bs, file));
          return;
        }
        result.read.clat.add(Math.round((now() - start) * 1e6));
        result.read.bytes += bs;
        result.read.ios++;
        try {
          checkVerifyBlock(buf, off, file);
        } catch (err) {
          fail(err);
          return;
        }
      }
    };
    await Promise.all(Array.from({ length: opts.iodepth }, checker));
  }

  const tDone = now();
  const runtimeMs = Math.max(1, Math.floor((generation ? tDone : tEnd) - (measureStart === Infinity ? t0 : measureStart)));
  result.runtimeMs = runtimeMs;
  result.elapsedMs = tDone - t0;
  if (result.read.ios > 0) result.read.runtimeMs = runtimeMs;
  if (result.write.ios > 0) result.write.runtimeMs = runtimeMs;
  const cpu = process.cpuUsage(cpu0);
  const ru = process.resourceUsage();
  const wallUs = Math.max(1, (tDone - t0) * 1000);
  result.usrCpu = (cpu.user * 100) / wallUs;
  result.sysCpu = (cpu.system * 100) / wallUs;
  result.ctx = ru.voluntaryContextSwitches - ru0.voluntaryContextSwitches + ru.involuntaryContextSwitches - ru0.involuntaryContextSwitches;
  result.majf = ru.majorPageFault - ru0.majorPageFault;
  result.minf = ru.minorPageFault - ru0.minorPageFault;
  return result;
}

/** An I/O that failed, worded as fio's io_u error line. */
export class IoFailure extends Error {
  readonly errno: number;
  constructor(cause: unknown, dir: Dir, offset: number, length: number, file: string) {
    const errno = errnoNumber(cause);
    const why = cause instanceof Error ? cause.message : String(cause);
    super(`io_u error on file ${file}: ${why}: ${dir} offset=${offset}, buflen=${length}`);
    this.errno = errno;
  }
}

/** Folds several jobs into one (group_reporting). */
export function mergeResults(results: readonly JobResult[]): JobResult {
  const first = results[0]!;
  const m: JobResult = {
    ...first,
    read: new DirStats(),
    write: new DirStats(),
    depths: new Float64Array(7),
    jobs: 0,
    error: 0,
    errorMessage: undefined,
  };
  for (const r of results) {
    m.jobs += r.jobs;
    m.read.merge(r.read);
    m.write.merge(r.write);
    for (let i = 0; i < 7; i++) m.depths[i]! += r.depths[i]!;
    if (m.error === 0 && r.error !== 0) {
      m.error = r.error;
      m.errorMessage = r.errorMessage;
    }
    m.runtimeMs = Math.max(m.runtimeMs, r.runtimeMs);
    m.elapsedMs = Math.max(m.elapsedMs, r.elapsedMs);
  }
  m.usrCpu = first.usrCpu;
  m.sysCpu = first.sysCpu;
  return m;
}

/** A result with no I/O yet (also what a job that failed before starting reports). */
export function emptyResult(opts: JobOptions, error: number): JobResult {
  return {
    name: opts.name,
    opts,
    jobs: 1,
    error,
    errorMessage: undefined,
    read: new DirStats(),
    write: new DirStats(),
    runtimeMs: 0,
    elapsedMs: 0,
    usrCpu: 0,
    sysCpu: 0,
    ctx: 0,
    majf: 0,
    minf: 0,
    depths: new Float64Array(7),
    startedAt: new Date(),
  };
}
