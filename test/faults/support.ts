// A fake clock for the fault targets: time moves only when a test advances it.
import type { FaultClock } from '../../src/targets/flakey/fault-env.js';

export class FakeClock implements FaultClock {
  t = 0;
  private sleepers: { at: number; wake: () => void }[] = [];
  now(): number {
    return this.t;
  }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.sleepers.push({ at: this.t + ms, wake: resolve }));
  }
  /** Moves time on by ms and wakes the sleepers that are due. */
  advance(ms: number): void {
    this.t += ms;
    const due = this.sleepers.filter((s) => s.at <= this.t);
    this.sleepers = this.sleepers.filter((s) => s.at > this.t);
    for (const s of due) s.wake();
  }
  get pending(): number {
    return this.sleepers.length;
  }
}

/** An I/O case of the kernel capture (test/vectors/faults/PROVENANCE.md, `io`). */
export interface IoCase {
  id: string;
  op: 'read' | 'write';
  table: string;
  createExit: number;
  ioExit?: number;
  onDisk?: 'old' | 'new' | 'other';
  /** `cmp -l`: [byte number from 1, expected, got]. */
  diff?: [number, number, number][];
}

/** The disk before each I/O case and the data written (as capture-faults.sh makes them). */
export const IO_OLD = Uint8Array.from({ length: 4096 }, (_, i) => (i * 31 + 7) & 255);
export const IO_NEW = Uint8Array.from({ length: 4096 }, (_, i) => (i * 17 + 101) & 255);

/** `cmp -l a b` as [byte number from 1, a's byte, b's byte]. */
export function cmpList(a: Uint8Array, b: Uint8Array): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) out.push([i + 1, a[i]!, b[i]!]);
  return out;
}

/**
 * What an I/O case may be compared on. Random corruption (random_read_corrupt /
 * random_write_corrupt) picks its byte and value at random, in the kernel and in ucrypt alike:
 * its changes are counted ("at most 1" byte, as one corrupted I/O changes one byte or none when
 * the value happens to be the old one) and the fixed corrupt_bio_byte change is kept as is.
 */
export function normalizeIo(c: IoCase): Record<string, unknown> {
  const { diff, ...rest } = c;
  if (!diff || !/random_(read|write)_corrupt/.test(c.table)) return diff ? { ...rest, diff } : rest;
  const fixedAt = /corrupt_bio_byte (\d+)/.exec(c.table);
  const fixed = diff.filter((d) => fixedAt && d[0] === Number(fixedAt[1]));
  const others = diff.length - fixed.length;
  return { ...rest, diff: fixed, randomBytes: others <= 1 ? 'at most 1' : String(others) };
}
