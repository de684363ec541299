// Latency statistics as fio keeps them (stat.c): min/max/mean/stdev by Welford's method, and the
// log-linear completion-latency histogram io_u_plat (FIO_IO_U_PLAT_BITS = 6: 29 groups of 64
// buckets, every bucket within 1/64 of its value), so percentiles are computed exactly as
// fio's calc_clat_percentiles does and agree with fio's to the bucket. 1856 counters per
// direction, no allocation per sample, no dependency.

export const PLAT_BITS = 6;
export const PLAT_VAL = 1 << PLAT_BITS;
export const PLAT_GROUP_NR = 29;
export const PLAT_NR = PLAT_GROUP_NR * PLAT_VAL;

/** fio's default percentile list (def_percentile_list). */
export const DEFAULT_PERCENTILES = [1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 99.5, 99.9, 99.95, 99.99] as const;

/** plat_val_to_idx. */
export function platValToIdx(val: number): number {
  const msb = val < 1 ? 0 : Math.floor(Math.log2(val));
  if (msb <= PLAT_BITS) return Math.floor(val);
  // Math.log2 can round up just below a power of two; correct it.
  const m = 2 ** msb > val ? msb - 1 : msb;
  if (m <= PLAT_BITS) return Math.floor(val);
  const errorBits = m - PLAT_BITS;
  const base = (errorBits + 1) << PLAT_BITS;
  const offset = (PLAT_VAL - 1) & Math.floor(val / 2 ** errorBits);
  return Math.min(base + offset, PLAT_NR - 1);
}

/** plat_idx_to_val: the middle of the bucket's range. */
export function platIdxToVal(idx: number): number {
  if (idx < PLAT_VAL << 1) return idx;
  const errorBits = (idx >> PLAT_BITS) - 1;
  const base = 2 ** (errorBits + PLAT_BITS);
  const k = idx % PLAT_VAL;
  return Math.floor(base + (k + 0.5) * 2 ** errorBits);
}

/** io_stat: min, max, mean and variance by Welford's method (add_stat_sample). */
export class RunningStat {
  n = 0;
  min = 0;
  max = 0;
  mean = 0;
  private s = 0;

  add(v: number): void {
    if (this.n === 0 || v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    this.n++;
    const delta = v - this.mean;
    this.mean += delta / this.n;
    this.s += delta * (v - this.mean);
  }

  reset(): void {
    this.n = 0;
    this.min = 0;
    this.max = 0;
    this.mean = 0;
    this.s = 0;
  }

  get stddev(): number {
    return this.n > 1 ? Math.sqrt(this.s / (this.n - 1)) : 0;
  }

  merge(o: RunningStat): void {
    if (o.n === 0) return;
    if (this.n === 0) {
      this.n = o.n;
      this.min = o.min;
      this.max = o.max;
      this.mean = o.mean;
      this.s = o.s;
      return;
    }
    const n = this.n + o.n;
    const delta = o.mean - this.mean;
    this.s += o.s + (delta * delta * this.n * o.n) / n;
    this.mean += (delta * o.n) / n;
    this.n = n;
    this.min = Math.min(this.min, o.min);
    this.max = Math.max(this.max, o.max);
  }
}

export class LatencyHistogram {
  readonly plat = new Float64Array(PLAT_NR);
  readonly stat = new RunningStat();

  /** Records one latency in nanoseconds. */
  add(ns: number): void {
    this.stat.add(ns);
    this.plat[platValToIdx(ns)]!++;
  }

  reset(): void {
    this.stat.reset();
    this.plat.fill(0);
  }

  merge(o: LatencyHistogram): void {
    this.stat.merge(o.stat);
    for (let i = 0; i < PLAT_NR; i++) this.plat[i]! += o.plat[i]!;
  }

  /** calc_clat_percentiles: the value of the bucket where the running sum reaches each percentile. */
  percentiles(list: readonly number[] = DEFAULT_PERCENTILES): number[] {
    const nr = this.stat.n;
    const out: number[] = [];
    if (nr === 0) return list.map(() => 0);
    let sum = 0;
    let j = 0;
    for (let i = 0; i < PLAT_NR && j < list.length; i++) {
      sum += this.plat[i]!;
      while (j < list.length && sum >= (list[j]! / 100) * nr) {
        out.push(platIdxToVal(i));
        j++;
      }
    }
    while (out.length < list.length) out.push(platIdxToVal(PLAT_NR - 1));
    return out;
  }

  /**
   * The share of I/Os below each of fio's latency bucket edges (stat_calc_lat_n/u/m): 2, 4, 10,
   * 20, 50, 100, 250, 500, 750, 1000 ns, the same in us, then ms with 2000 and >=2000.
   */
  latencyBuckets(): { nsec: number[]; usec: number[]; msec: number[] } {
    const edges = [2, 4, 10, 20, 50, 100, 250, 500, 750, 1000];
    const counts = new Float64Array(edges.length * 3 + 2);
    for (let i = 0; i < PLAT_NR; i++) {
      const c = this.plat[i]!;
      if (c === 0) continue;
      const v = platIdxToVal(i);
      let slot = counts.length - 1;
      for (let g = 0, mult = 1; g < 3; g++, mult *= 1000) {
        const k = edges.findIndex((e) => v <= e * mult);
        if (k >= 0) {
          slot = g * edges.length + k;
          break;
        }
      }
      if (slot === counts.length - 1 && v <= 2000e6) slot = counts.length - 2;
      counts[slot]! += c;
    }
    const n = this.stat.n || 1;
    const pct = (a: number, b: number): number[] => Array.from(counts.subarray(a, b), (c) => (c * 100) / n);
    return { nsec: pct(0, 10), usec: pct(10, 20), msec: pct(20, 32) };
  }
}
