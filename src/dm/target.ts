// Target types, modelled on the kernel's `struct target_type` (include/linux/device-mapper.h;
// drivers/md/dm-linear.c is the smallest example).
//
// Instead of the kernel's map(bio) that remaps a bio for the block layer to resubmit, a Target
// performs the I/O for its own range directly: `read/write/...` take byte offsets relative to the
// target's first sector. That keeps one promise per I/O and no request object on the hot path.

import type { BlockDevice, BlockLimits, WriteFlags, WriteZeroesFlags } from '../block/device.js';
import { UcryptError } from '../errors.js';

/** A device a table holds open (dm_get_device), shown in tables as MAJ:MIN. */
export interface DeviceRef {
  readonly dev: BlockDevice;
  /** `1:0`, `254:3`, `7:0`: how the kernel prints the device in tables. */
  readonly devName: string;
  /** Kernel name: `ram0`, `dm-3`, `loop0`. */
  readonly kname: string;
}

/** What a target's constructor may use (the kernel's dm_target plus dm_get_device). */
export interface TargetContext {
  /** First sector of this target in the mapped device. */
  readonly begin: number;
  /** Length in 512-byte sectors. */
  readonly len: number;
  readonly readOnly: boolean;
  /** Opens a device named by a path, MAJ:MIN or file; rejects if it cannot be found. */
  getDevice(path: string): Promise<DeviceRef>;
  /** Prints a kernel log line (a target's DMWARN/DMERR during construction). */
  log?(line: string): void;
}

export type StatusType = 'info' | 'table';

export interface StatusOptions {
  /** `dmsetup table --showkeys`; otherwise keys are masked. */
  readonly showKeys: boolean;
}

/** A device range a target uses, for the table's size check and for deps/holders. */
export interface DeviceArea {
  readonly ref: DeviceRef;
  /** Start sector on the device. */
  readonly start: number;
  /** Length in sectors. */
  readonly len: number;
}

export interface Target {
  read(offset: number, buf: Uint8Array): Promise<void>;
  write(offset: number, buf: Uint8Array, flags?: WriteFlags): Promise<void>;
  /** BlockDevice.readNow/writeNow for the target's range (optional; false: use read/write). */
  readNow?(offset: number, buf: Uint8Array): boolean;
  writeNow?(offset: number, buf: Uint8Array, flags?: WriteFlags): boolean;
  flush(): Promise<void>;
  discard(offset: number, length: number): Promise<void>;
  writeZeroes(offset: number, length: number, flags?: WriteZeroesFlags): Promise<void>;
  /** The result part of a status/table line (without `start length type `). */
  status(type: StatusType, opts: StatusOptions): string;
  /** The devices and areas this target maps to (iterate_devices). */
  devices(): readonly DeviceArea[];
  /** Limits this target imposes on the mapped device (io_hints). */
  limits?(): Partial<BlockLimits>;
  /** `dmsetup message`; absent means the target takes none. */
  message?(argv: readonly string[], suspended: boolean): string | Promise<string>;
  /** Called when a suspend starts, before in-flight I/O is waited for (the kernel's presuspend). */
  presuspend?(): void;
  /** Called before the device resumes; throw to refuse the resume. */
  preresume?(): void;
  postsuspend?(): void | Promise<void>;
  /** Frees resources and wipes secrets (dtr). */
  close?(): void;
}

export interface TargetType {
  readonly name: string;
  readonly version: readonly [number, number, number];
  /** Only one target of this type per table (DM_TARGET_SINGLETON). */
  readonly singleton?: boolean;
  /** Validates arguments and builds a target; throw targetError(...) with the kernel's text. */
  create(args: readonly string[], ctx: TargetContext): Target | Promise<Target>;
}

/** A constructor failure: `message` is the kernel's `ti->error` text, errno what ctr returns. */
export function targetError(message: string, errno: 'EINVAL' | 'ENOMEM' | 'ENODEV' | 'EBUSY' = 'EINVAL'): UcryptError {
  return new UcryptError('ERR_TARGET_CTR', errno, message);
}

/** Throws `Target does not support messages`-style errors for message() implementations. */
export function messageError(message: string, errno: 'EINVAL' | 'ENOTSUP' = 'EINVAL'): UcryptError {
  return new UcryptError('ERR_NO_MESSAGES', errno, message);
}

const registry = new Map<string, TargetType>();

export function registerTargetType(type: TargetType): void {
  registry.set(type.name, type);
}

export function getTargetType(name: string): TargetType | undefined {
  return registry.get(name);
}

export function listTargetTypes(): TargetType[] {
  return [...registry.values()];
}
