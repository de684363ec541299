// Memory diagnostics for the control ops `debug.memory` and `debug.heapsnapshot` (used by the
// load tests to tell a leak from bounded growth): process.memoryUsage() after an optional full
// garbage collection, and a V8 heap snapshot written to a file.

import { setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gcFn: (() => void) | undefined;

/**
 * A full, synchronous garbage collection. Uses `gc` when node runs with --expose-gc; otherwise
 * enables the flag and takes `gc` from a fresh context (V8 installs it there once the flag is set).
 */
export function collectGarbage(): void {
  if (!gcFn) {
    const g = (globalThis as { gc?: () => void }).gc;
    if (g) gcFn = g;
    else {
      setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
    }
  }
  gcFn();
}

export interface MemoryFigures {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

export function memoryFigures(gc: boolean): MemoryFigures {
  if (gc) {
    // Twice: the first collection runs finalizers (FinalizationRegistry, external memory of
    // collected buffers) whose memory the second one returns.
    collectGarbage();
    collectGarbage();
  }
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
  return { rss, heapTotal, heapUsed, external, arrayBuffers };
}

/** Writes a heap snapshot into `dir` (or the working directory) and returns its path. */
export function heapSnapshot(dir: string | undefined): string {
  return writeHeapSnapshot(dir ? `${dir}/ucrypt-${process.pid}-${Date.now()}.heapsnapshot` : undefined);
}
