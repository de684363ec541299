// Shared fixtures for the device-mapper and target unit tests: a registry with brd loaded as in
// the golden capture (2 RAM disks of 16384 sectors), log helpers, data patterns, and test-only
// target types registered through registerTargetType:
//
//   test-gate <gate> <dev_path> <offset>   linear-like, but every I/O is recorded when it starts
//                                          and passes a controllable gate (held, delayed, open)
//   test-lbs <bytes>                       zero-like, imposes a logical block size (io_hints)
//   test-veto <gate>                       zero-like, preresume() throws while gate.veto is set
//   test-msg                               zero-like, answers messages
//   test-single                            zero-like, DM_TARGET_SINGLETON

import { setImmediate as immediate } from 'node:timers/promises';
import type { BlockDevice, BlockLimits, WriteFlags, WriteZeroesFlags } from '../../src/block/device.js';
import { Registry } from '../../src/dm/registry.js';
import { parseSector } from '../../src/dm/table.js';
import type { DeviceArea, DeviceRef, StatusType, Target, TargetContext } from '../../src/dm/target.js';
import { messageError, registerTargetType, targetError } from '../../src/dm/target.js';
import { UcryptError } from '../../src/errors.js';

export const SECTOR = 512;
/** rd_size=8192 KiB: 16384 sectors per disk, as in the golden capture. */
export const RAM_SECTORS = 16384;

/** A registry with `modprobe brd rd_nr=2 rd_size=8192` done (ram0, ram1 = 1:0, 1:1). */
export function newRegistry(): Registry {
  const reg = new Registry();
  reg.modprobeBrd({ rd_nr: 2, rd_size: 8192 });
  return reg;
}

/** Log lines since `mark` (an index into registry.dmesg()), without the `[   time] ` prefix. */
export function logSince(reg: Registry, mark: number): string[] {
  return reg.dmesg().slice(mark).map((l) => l.replace(/^\[[ \d.]+\] /, ''));
}

/** Lets pending promise jobs and I/O callbacks run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await immediate();
}

/** A deterministic byte pattern, different for every seed. */
export function pattern(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761 + 0x9e3779b9) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Whether a promise settles within `ms` (without keeping the process alive afterwards). */
export async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const done = p.then(
    () => true as const,
    () => true as const,
  );
  try {
    return await Promise.race([done, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Asserts-friendly view of an error: the fields tests check. */
export function errInfo(err: unknown): { code: string; errno: string; message: string; context: Record<string, unknown> } {
  if (!(err instanceof UcryptError)) throw err;
  return { code: err.code, errno: err.errno, message: err.message, context: { ...err.context } };
}

/** Runs fn and returns the UcryptError it throws or rejects with (fails if it succeeds). */
export async function failure(fn: () => unknown): Promise<UcryptError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof UcryptError) return err;
    throw err;
  }
  throw new Error('expected a failure, but the operation succeeded');
}

// ---- test-gate ----------------------------------------------------------------------------

export interface IoEvent {
  readonly op: 'read' | 'write' | 'flush' | 'discard' | 'write-zeroes';
  /** Byte offset on the underlying device (after the target's mapping). */
  readonly offset: number;
  readonly length: number;
  /** Which table instance (target) served it: 1, 2, ... per gate. */
  readonly instance: number;
}

/** Controls every test-gate target naming it: holds, delays or passes I/O, and records it. */
export class Gate {
  readonly started: IoEvent[] = [];
  readonly finished: IoEvent[] = [];
  /** I/O that reached a target after its table was closed (must stay empty). */
  readonly violations: string[] = [];
  instances = 0;
  closed = 0;
  postsuspends = 0;
  preresumes = 0;
  inflight = 0;
  maxInflight = 0;
  /** Makes a test-veto target's preresume fail. */
  veto: UcryptError | undefined;
  private held = false;
  private delay: (() => number) | undefined;
  private readonly waiting: (() => void)[] = [];

  /** From now on I/O waits at the gate until release(). */
  hold(): void {
    this.held = true;
  }

  /** Lets `count` waiting I/Os through (all, and stops holding, when omitted). */
  release(count?: number): void {
    if (count === undefined) {
      this.held = false;
      for (const w of this.waiting.splice(0)) w();
      return;
    }
    for (const w of this.waiting.splice(0, count)) w();
  }

  /** Every I/O sleeps for ms() milliseconds (a slow device). */
  slow(ms: () => number): void {
    this.delay = ms;
  }

  get waitingCount(): number {
    return this.waiting.length;
  }

  async pass(): Promise<void> {
    if (this.held) await new Promise<void>((resolve) => this.waiting.push(resolve));
    const d = this.delay?.();
    if (d !== undefined) await new Promise((resolve) => setTimeout(resolve, d));
  }
}

const gates = new Map<string, Gate>();

/** A fresh gate registered under `name` (test-gate/test-veto tables refer to it by name). */
export function gate(name: string): Gate {
  const g = new Gate();
  gates.set(name, g);
  return g;
}

class GateTarget implements Target {
  private readonly dev: BlockDevice;
  private readonly base: number;
  private readonly areas: readonly DeviceArea[];
  private closed = false;
  private readonly instance: number;

  constructor(
    private readonly g: Gate,
    private readonly gateName: string,
    private readonly ref: DeviceRef,
    private readonly start: number,
    len: number,
  ) {
    this.dev = ref.dev;
    this.base = start * SECTOR;
    this.areas = [{ ref, start, len }];
    this.instance = ++g.instances;
  }

  private async run(op: IoEvent['op'], offset: number, length: number, io: () => Promise<void>): Promise<void> {
    const ev: IoEvent = { op, offset, length, instance: this.instance };
    if (this.closed) this.g.violations.push(`${op} at ${offset} started on closed instance ${this.instance}`);
    this.g.started.push(ev);
    this.g.inflight++;
    this.g.maxInflight = Math.max(this.g.maxInflight, this.g.inflight);
    try {
      await this.g.pass();
      if (this.closed) this.g.violations.push(`${op} at ${offset} ran on closed instance ${this.instance}`);
      await io();
    } finally {
      this.g.inflight--;
      this.g.finished.push(ev);
    }
  }

  read(offset: number, buf: Uint8Array): Promise<void> {
    return this.run('read', this.base + offset, buf.length, () => this.dev.read(this.base + offset, buf));
  }
  write(offset: number, buf: Uint8Array, flags?: WriteFlags): Promise<void> {
    return this.run('write', this.base + offset, buf.length, () => this.dev.write(this.base + offset, buf, flags));
  }
  flush(): Promise<void> {
    return this.run('flush', 0, 0, () => this.dev.flush());
  }
  discard(offset: number, length: number): Promise<void> {
    return this.run('discard', this.base + offset, length, () => this.dev.discard(this.base + offset, length));
  }
  writeZeroes(offset: number, length: number, flags?: WriteZeroesFlags): Promise<void> {
    return this.run('write-zeroes', this.base + offset, length, () => this.dev.writeZeroes(this.base + offset, length, flags));
  }
  status(type: StatusType): string {
    return type === 'info' ? '' : `${this.gateName} ${this.ref.devName} ${this.start}`;
  }
  devices(): readonly DeviceArea[] {
    return this.areas;
  }
  postsuspend(): void {
    this.g.postsuspends++;
  }
  preresume(): void {
    this.g.preresumes++;
  }
  close(): void {
    this.closed = true;
    this.g.closed++;
  }
}

/** A target without devices that reads zeros; the base of test-lbs, test-veto and test-msg. */
class NullTarget implements Target {
  constructor(private readonly ownLimits: Partial<BlockLimits> = {}) {}
  async read(_offset: number, buf: Uint8Array): Promise<void> {
    buf.fill(0);
  }
  async write(): Promise<void> {}
  async flush(): Promise<void> {}
  async discard(): Promise<void> {}
  async writeZeroes(): Promise<void> {}
  status(): string {
    return '';
  }
  devices(): [] {
    return [];
  }
  limits(): Partial<BlockLimits> {
    return this.ownLimits;
  }
}

function namedGate(name: string | undefined): Gate {
  const g = name === undefined ? undefined : gates.get(name);
  if (!g) throw targetError('Unknown gate');
  return g;
}

registerTargetType({
  name: 'test-gate',
  version: [0, 0, 1],
  async create(args: readonly string[], ctx: TargetContext): Promise<Target> {
    if (args.length !== 3) throw targetError('Invalid argument count');
    const g = namedGate(args[0]);
    const start = parseSector(args[2]!);
    if (start === undefined) throw targetError('Invalid device sector');
    const ref = await ctx.getDevice(args[1]!).catch(() => {
      throw targetError('Device lookup failed', 'ENODEV');
    });
    return new GateTarget(g, args[0]!, ref, start, ctx.len);
  },
});

registerTargetType({
  name: 'test-lbs',
  version: [0, 0, 1],
  create(args: readonly string[]): Target {
    const lbs = Number(args[0]);
    if (args.length !== 1 || !Number.isInteger(lbs)) throw targetError('Invalid block size');
    return new NullTarget({ logicalBlockSize: lbs, physicalBlockSize: lbs });
  },
});

class VetoTarget extends NullTarget {
  constructor(private readonly g: Gate) {
    super();
  }
  preresume(): void {
    this.g.preresumes++;
    if (this.g.veto) throw this.g.veto;
  }
}

registerTargetType({
  name: 'test-veto',
  version: [0, 0, 1],
  create(args: readonly string[]): Target {
    return new VetoTarget(namedGate(args[0]));
  },
});

/** Every message a test-msg target received: [argv, suspended]. */
export const messages: [readonly string[], boolean][] = [];

class MsgTarget extends NullTarget {
  message(argv: readonly string[], suspended: boolean): string {
    messages.push([argv, suspended]);
    if (argv[0] === 'fail') throw messageError('Unrecognised message received');
    return `ok ${argv.join(',')}`;
  }
}

registerTargetType({
  name: 'test-msg',
  version: [0, 0, 1],
  create(): Target {
    return new MsgTarget();
  },
});

registerTargetType({
  name: 'test-single',
  version: [0, 0, 1],
  singleton: true,
  create(): Target {
    return new NullTarget();
  },
});
