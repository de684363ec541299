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
