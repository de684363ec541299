// The registry plays the kernel's part: it owns the block devices (RAM disks from brd, files
// attached like loop devices, mapped devices), names and numbers them as Linux does, builds
// tables (dm-table.c, dm-ioctl.c) and keeps a kernel-style log (`ucrypt dmesg`).
//
//   1:N    ramN     RAM disks (brd)
//   7:N    loopN    regular files named in a table (like a loop device, detached when unused)
//   254:N  dm-N     mapped devices, N the lowest free minor (idr_alloc)
//   a real block device path keeps its own MAJ:MIN

import { promises as fsp } from 'node:fs';
import { basename } from 'node:path';
import type { BlockDevice, BlockLimits } from '../block/device.js';
import { SECTOR_SIZE } from '../block/device.js';
import { FileDevice } from '../backends/file/file.js';
import type { BrdParams } from '../backends/ram/brd.js';
import { createRamDisks } from '../backends/ram/brd.js';
import type { RamDisk } from '../backends/ram/ramdisk.js';
import type { ErrnoName } from '../errors.js';
import { Errno, UcryptError, errnoOf, errorMessage } from '../errors.js';
import type { LoadedTarget } from './mapped-device.js';
import { MappedDevice, Table } from './mapped-device.js';
import type { TableLine } from './table.js';
import { parseTable, splitArgs } from './table.js';
import type { DeviceRef, TargetContext } from './target.js';
import { getTargetType, listTargetTypes } from './target.js';
import { registerBuiltinTargets } from '../targets/index.js';

export const DM_MAJOR = 254;
export const RAM_MAJOR = 1;
export const LOOP_MAJOR = 7;
/** The dm ioctl interface version we mimic (DM_VERSION_MAJOR.MINOR.PATCHLEVEL). */
export const DM_DRIVER_VERSION = '4.50.0';

/** The ioctl a control operation stands for; dmsetup names it in `... ioctl on NAME  failed`. */
export type Ioctl = 'create' | 'reload' | 'resume' | 'suspend' | 'remove' | 'info' | 'table' | 'status' | 'message' | 'clear' | 'remove_all' | 'list';

export function ioctlError(ioctl: Ioctl, errno: ErrnoName, message: string, name?: string): UcryptError {
  return new UcryptError('ERR_DEVICE_BUSY', errno, message, { ioctl, ...(name === undefined ? {} : { name }) });
}

/** A block device node: what a table can name and hold open. */
interface Node {
  readonly major: number;
  readonly minor: number;
  readonly kname: string;
  readonly dev: BlockDevice;
  /** Tables and exports holding the device. */
  opens: number;
  /** Files attached on demand are closed when the last holder goes. */
  readonly autoclear: boolean;
}

export interface LogEntry {
  readonly time: number;
  readonly text: string;
}

export interface DeviceInfo {
  readonly name: string;
  readonly uuid: string;
  readonly major: number;
  readonly minor: number;
  readonly suspended: boolean;
  readonly readOnly: boolean;
  readonly tablesPresent: MappedDevice['tablesPresent'];
  readonly openCount: number;
  readonly eventNr: number;
  /** Targets in the live table (the inactive one when only that is present). */
  readonly targetCount: number;
  readonly size: number;
  readonly limits: BlockLimits;
}

export interface CreateOptions {
  readonly uuid?: string;
  readonly readOnly?: boolean;
  /** Table text, or parsed lines; absent creates a device with no table (dmsetup --notable). */
  readonly table?: string | readonly TableLine[];
}

export class Registry {
  private readonly nodes = new Map<string, Node>();
  private readonly mapped = new Map<string, MappedDevice>();
  private ramDisks: RamDisk[] = [];
  private readonly log: LogEntry[] = [];
  private readonly bootTime = Date.now();
  private loopMinor = 0;
  /** Called for every log line (the daemon prints them). */
  onLog: ((line: string) => void) | undefined;

  constructor() {
    registerBuiltinTargets();
  }

  // ---- kernel log ---------------------------------------------------------------------------

  /** printk with the dm prefixes: `device-mapper: table: 254:0: ...`. */
  klog(text: string): void {
    const entry = { time: Date.now(), text };
    this.log.push(entry);
    if (this.log.length > 10000) this.log.splice(0, this.log.length - 10000);
    this.onLog?.(text);
  }

  /** dmesg lines: `[    1.234567] text`, seconds since the registry started. */
  dmesg(): string[] {
    return this.log.map((e) => `[${((e.time - this.bootTime) / 1000).toFixed(6).padStart(12)}] ${e.text}`);
  }

  // ---- brd ----------------------------------------------------------------------------------

  get brdLoaded(): boolean {
    return this.ramDisks.length > 0;
  }

  /** `modprobe brd ...`; like modprobe, a second load of a loaded module does nothing. */
  modprobeBrd(params: BrdParams): RamDisk[] {
    if (this.brdLoaded) return this.ramDisks;
    this.ramDisks = createRamDisks(params);
    this.ramDisks.forEach((dev, i) => this.nodes.set(`${RAM_MAJOR}:${i}`, { major: RAM_MAJOR, minor: i, kname: `ram${i}`, dev, opens: 0, autoclear: false }));
    this.klog(`brd: module loaded`);
    return this.ramDisks;
  }

  rmmodBrd(): void {
    if (!this.brdLoaded) throw new UcryptError('ERR_BRD', 'ENOENT', 'rmmod: ERROR: Module brd is not currently loaded');
    if (this.ramDisks.some((_, i) => (this.nodes.get(`${RAM_MAJOR}:${i}`)?.opens ?? 0) > 0)) {
      throw new UcryptError('ERR_DEVICE_BUSY', 'EBUSY', 'rmmod: ERROR: Module brd is in use');
    }
    for (let i = 0; i < this.ramDisks.length; i++) this.nodes.delete(`${RAM_MAJOR}:${i}`);
    for (const d of this.ramDisks) d.clear();
    this.ramDisks = [];
  }

  ramDisk(index: number): RamDisk | undefined {
    return this.ramDisks[index];
  }

  get ramDiskCount(): number {
    return this.ramDisks.length;
  }

  // ---- device lookup (dm_get_device / lookup_bdev) -------------------------------------------

  /** Finds a node by `/dev/ramN`, `/dev/mapper/NAME`, `/dev/dm-N`, `MAJ:MIN`; files are attached. */
  async lookup(path: string): Promise<{ key: string; node: Node } | undefined> {
    let m = /^(\d+):(\d+)$/.exec(path);
    if (m) {
      const key = `${Number(m[1])}:${Number(m[2])}`;
      const node = this.nodes.get(key);
      return node ? { key, node } : undefined;
    }
    m = /^\/dev\/ram(\d+)$/.exec(path);
    if (m) return this.byKey(`${RAM_MAJOR}:${Number(m[1])}`);
    m = /^\/dev\/dm-(\d+)$/.exec(path);
    if (m) return this.byKey(`${DM_MAJOR}:${Number(m[1])}`);
    m = /^\/dev\/mapper\/(.+)$/.exec(path);
    if (m) {
      const md = this.mapped.get(m[1]!);
      return md ? this.byKey(md.devName) : undefined;
    }
    if (path.startsWith('/dev/') && !(await exists(path))) return undefined;
    return this.attachFile(path);
  }

  private byKey(key: string): { key: string; node: Node } | undefined {
    const node = this.nodes.get(key);
    return node ? { key, node } : undefined;
  }

  /** Attaches a file like `losetup` would (or finds it attached already). */
  private async attachFile(path: string): Promise<{ key: string; node: Node } | undefined> {
    for (const [key, node] of this.nodes) {
      if (node.dev instanceof FileDevice && node.dev.path === path) return { key, node };
    }
    let st;
    try {
      st = await fsp.stat(path);
    } catch {
      return undefined;
    }
    const dev = await FileDevice.open(path);
    let major = LOOP_MAJOR;
    let minor: number;
    let kname: string;
    if (st.isBlockDevice()) {
      major = ((st.rdev >> 8) & 0xfff) | Math.floor(st.rdev / 2 ** 32) * 0x1000;
      minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
      kname = basename(path);
    } else {
      while (this.nodes.has(`${LOOP_MAJOR}:${this.loopMinor}`)) this.loopMinor++;
      minor = this.loopMinor++;
      kname = `loop${minor}`;
    }
    const node: Node = { major, minor, kname, dev, opens: 0, autoclear: true };
    const key = `${major}:${minor}`;
    this.nodes.set(key, node);
    return { key, node };
  }

  private release(key: string): void {
    const node = this.nodes.get(key);
    if (!node) return;
    node.opens--;
    const md = this.mappedByKey(key);
    if (md) md.openCount--;
    if (node.opens === 0 && node.autoclear) {
      this.nodes.delete(key);
      if (node.dev instanceof FileDevice) void node.dev.close();
    }
  }

  private mappedByKey(key: string): MappedDevice | undefined {
    const m = /^254:(\d+)$/.exec(key);
    if (!m) return undefined;
    for (const md of this.mapped.values()) if (md.minor === Number(m[1])) return md;
    return undefined;
  }

  /** Holds a device open (an NBD export does this), so it cannot be removed. */
  open(name: string): MappedDevice {
    const md = this.get(name, 'info');
    md.openCount++;
    this.nodes.get(md.devName)!.opens++;
    return md;
  }

  close(name: string): void {
    const md = this.mapped.get(name);
    if (md) this.release(md.devName);
  }

  /**
   * Holds an export open by its NBD name (`ramN` or a mapped device's NAME), as an open block
   * device would: `dmsetup remove` answers busy and `rmmod brd` refuses while it is held.
   */
  hold(name: string): { dev: BlockDevice; release: () => void } | undefined {
    let key: string | undefined;
    const md = this.mapped.get(name);
    if (md) key = md.devName;
    else {
      const m = /^ram(\d+)$/.exec(name);
      if (m && this.ramDisks[Number(m[1])]) key = `${RAM_MAJOR}:${Number(m[1])}`;
    }
    const node = key === undefined ? undefined : this.nodes.get(key);
    if (!node || key === undefined) return undefined;
    node.opens++;
    if (md) md.openCount++;
    let held = true;
    return {
      dev: node.dev,
      release: () => {
        if (!held) return;
        held = false;
        this.release(key);
      },
    };
  }

  /** Export names: RAM disks (`ram0`...) then mapped devices in minor order. */
  exportNames(): string[] {
    return [...this.ramDisks.map((_, i) => `ram${i}`), ...this.list().map((md) => md.name)];
  }

  // ---- tables ---------------------------------------------------------------------------------

  /** Builds a table for `md` (populate_table + dm_table_complete), logging failures like the kernel. */
  private async buildTable(md: MappedDevice, input: string | readonly TableLine[]): Promise<Table> {
    const lines = typeof input === 'string' ? parseTable(input) : input;
    const dn = md.devName;
    const fail = (errno: ErrnoName, message: string): UcryptError => ioctlError('reload', errno, message, md.name);
    if (lines.length === 0) {
      this.klog('device-mapper: ioctl: Empty table.');
      throw fail('EINVAL', 'empty table');
    }
    const held: string[] = [];
    const targets: LoadedTarget[] = [];
    const closeAll = (): void => {
      for (const t of targets) t.target.close?.();
      for (const k of held) this.release(k);
    };
    try {
      for (const line of lines) {
        const type = getTargetType(line.type);
        // dm_table_add_target: nothing may follow a singleton (checked before anything else).
        const first = targets[0];
        if (first?.type.singleton) {
          this.klog(`device-mapper: table: ${dn}: target type ${first.type.name} must appear alone in table`);
          this.klog('device-mapper: ioctl: error adding target to table');
          throw fail('EINVAL', `target type ${first.type.name} must appear alone in table`);
        }
        if (line.length === 0) {
          this.klog(`device-mapper: table: ${dn}: zero-length target`);
          this.klog('device-mapper: ioctl: error adding target to table');
          throw fail('EINVAL', 'zero-length target');
        }
        if (!type) {
          this.klog(`device-mapper: table: ${dn}: ${line.type}: unknown target type`);
          this.klog('device-mapper: ioctl: error adding target to table');
          throw fail('EINVAL', `${line.type}: unknown target type`);
        }
        const prev = targets[targets.length - 1];
        const adjoins = prev ? line.start === prev.start + prev.len : line.start === 0;
        const ctrFail = (message: string, errno: ErrnoName): UcryptError => {
          this.klog(`device-mapper: table: ${dn}: ${line.type}: ${message} (-${errno})`);
          this.klog('device-mapper: ioctl: error adding target to table');
          return fail(errno, `${line.type}: ${message}`);
        };
        if (type.singleton && targets.length > 0) throw ctrFail('singleton target type must appear alone in table', 'EINVAL');
        if (!adjoins) throw ctrFail('Gap in table', 'EINVAL');
        const ctx: TargetContext = {
          begin: line.start,
          len: line.length,
          readOnly: md.readOnly,
          log: (text: string) => this.klog(text),
          getDevice: async (path: string): Promise<DeviceRef> => {
            const found = await this.lookup(path);
            if (!found) throw new UcryptError('ERR_NO_DEVICE', 'ENODEV', `${path}: no such device`);
            if (found.key === dn) throw new UcryptError('ERR_NO_DEVICE', 'EINVAL', 'a table cannot map a device onto itself');
            found.node.opens++;
            const under = this.mappedByKey(found.key);
            if (under) under.openCount++;
            held.push(found.key);
            return { dev: found.node.dev, devName: found.key, kname: found.node.kname };
          },
        };
        let target;
        try {
          target = await type.create(splitArgs(line.params), ctx);
        } catch (err) {
          throw ctrFail(errorMessage(err), errnoOf(err));
        }
        targets.push({ start: line.start, len: line.length, type, target, startByte: line.start * SECTOR_SIZE, endByte: (line.start + line.length) * SECTOR_SIZE });
      }
      // dm_calculate_queue_limits (dm_setup_md_queue on the first load): each device area must
      // lie inside its device and be aligned to the target's logical block size
      // (device_area_is_invalid), then the table as a whole to the device's
      // (validate_hardware_logical_block_alignment).
      const queueFail = (text: string): UcryptError => {
        this.klog(`device-mapper: table: ${dn}: ${text}`);
        this.klog('device-mapper: core: Cannot calculate initial queue limits');
        this.klog('device-mapper: ioctl: unable to set up device queue for new table.');
        return fail('EINVAL', text);
      };
      for (const t of targets) {
        const tiLogical = this.stackLimits([t]).logicalBlockSize;
        const lbs = tiLogical / SECTOR_SIZE;
        for (const a of t.target.devices()) {
          const devSectors = Math.floor(a.ref.dev.size / SECTOR_SIZE);
          if (a.start + a.len > devSectors) throw queueFail(`${a.ref.kname} too small for target: start=${a.start}, len=${a.len}, dev_size=${devSectors}`);
          if (a.start % lbs !== 0) throw queueFail(`start=${a.start} not aligned to h/w logical block size ${tiLogical} of ${a.ref.kname}`);
          if (a.len % lbs !== 0) throw queueFail(`len=${a.len} not aligned to h/w logical block size ${tiLogical} of ${a.ref.kname}`);
        }
      }
      const limits = this.stackLimits(targets);
      const devLbs = limits.logicalBlockSize / SECTOR_SIZE;
      let nextStart = 0;
      let remaining = 0;
      let i = 0;
      for (; i < targets.length; i++) {
        const t = targets[i]!;
        // The target's devices only (no io_hints), as the kernel's loop combines them.
        let devicesLbs = 1;
        for (const a of t.target.devices()) devicesLbs = Math.max(devicesLbs, a.ref.dev.limits.logicalBlockSize / SECTOR_SIZE);
        if (remaining < t.len && remaining % devicesLbs !== 0) break;
        nextStart = (nextStart + t.len) % devLbs;
        remaining = nextStart ? devLbs - nextStart : 0;
      }
      if (remaining) {
        const t = targets[Math.min(i, targets.length - 1)]!;
        throw queueFail(`table line ${i} (start sect ${t.start} len ${t.len}) not aligned to h/w logical block size ${limits.logicalBlockSize}`);
      }
      const keys = held.slice();
      return new Table(targets, keys.map((k) => ({ dev: this.nodes.get(k)!.dev, devName: k, kname: this.nodes.get(k)!.kname })), limits, () => {
        for (const k of keys) this.release(k);
      });
    } catch (err) {
      closeAll();
      throw err;
    }
  }

  /** dm_calculate_queue_limits: the largest block size of any target or device, discard only if all can. */
  private stackLimits(targets: readonly LoadedTarget[]): BlockLimits {
    let logical = SECTOR_SIZE;
    let physical = SECTOR_SIZE;
    let maxTransfer = 32 << 20;
    let discard = true;
    let writeZeroes = true;
    for (const t of targets) {
      const own = t.target.limits?.() ?? {};
      const devs = t.target.devices();
      for (const a of devs) {
        const l = a.ref.dev.limits;
        logical = Math.max(logical, l.logicalBlockSize);
        physical = Math.max(physical, l.physicalBlockSize);
        maxTransfer = Math.min(maxTransfer, l.maxTransfer);
        if (own.discard === undefined) discard &&= l.discard;
        if (own.writeZeroes === undefined) writeZeroes &&= l.writeZeroes;
      }
      if (own.logicalBlockSize) logical = Math.max(logical, own.logicalBlockSize);
      if (own.physicalBlockSize) physical = Math.max(physical, own.physicalBlockSize);
      if (own.maxTransfer) maxTransfer = Math.min(maxTransfer, own.maxTransfer);
      if (own.discard !== undefined) discard &&= own.discard;
      if (own.writeZeroes !== undefined) writeZeroes &&= own.writeZeroes;
    }
    return { logicalBlockSize: logical, physicalBlockSize: Math.max(physical, logical), maxTransfer, discard, writeZeroes, readOnly: false };
  }

  // ---- dm ioctls ------------------------------------------------------------------------------

  get(name: string, ioctl: Ioctl): MappedDevice {
    const md = this.mapped.get(name);
    if (!md) throw ioctlError(ioctl, 'ENXIO', `${name}: no such device`, name);
    return md;
  }

  has(name: string): boolean {
    return this.mapped.has(name);
  }

  /** DM_DEV_CREATE, then (with a table) DM_TABLE_LOAD and DM_DEV_SUSPEND (resume), like dmsetup create. */
  async create(name: string, opts: CreateOptions = {}): Promise<MappedDevice> {
    if (name === '' || name.length > 127 || name.includes('/') || name === '.' || name === '..') {
      throw ioctlError('create', 'EINVAL', `invalid device name '${name}'`, name);
    }
    if (this.mapped.has(name)) {
      throw ioctlError('create', 'EBUSY', `device ${name} already exists`, name);
    }
    const uuid = opts.uuid ?? '';
    if (uuid !== '') {
      for (const other of this.mapped.values()) {
        if (other.uuid === uuid) {
          throw ioctlError('create', 'EBUSY', `uuid ${uuid} already in use`, name);
        }
      }
    }
    let minor = 0;
    while (this.nodes.has(`${DM_MAJOR}:${minor}`)) minor++;
    const md = new MappedDevice(name, minor, uuid, opts.readOnly ?? false);
    this.mapped.set(name, md);
    this.nodes.set(md.devName, { major: DM_MAJOR, minor, kname: `dm-${minor}`, dev: md, opens: 0, autoclear: false });
    if (opts.table !== undefined) {
      try {
        await this.load(name, opts.table);
        await this.resume(name);
      } catch (err) {
        await this.remove(name).catch(() => undefined);
        // dmsetup names a device it just created by number: `reload ioctl on NAME (254:N) failed`.
        if (err instanceof UcryptError) throw new UcryptError(err.code, err.errno, err.message, { ...err.context, devName: md.devName });
        throw err;
      }
    }
    return md;
  }

  /** DM_TABLE_LOAD: builds the table into the inactive slot (replacing any inactive one). */
  async load(name: string, table: string | readonly TableLine[]): Promise<void> {
    const md = this.get(name, 'reload');
    const t = await this.buildTable(md, table);
    md.inactive?.close();
    md.inactive = t;
  }

  /** DM_TABLE_CLEAR: drops the inactive table. */
  clear(name: string): void {
    const md = this.get(name, 'clear');
    md.inactive?.close();
    md.inactive = undefined;
  }

  async suspend(name: string): Promise<void> {
    await this.get(name, 'suspend').suspend();
  }

  /** do_resume: swap in the inactive table (suspending first), then resume I/O. */
  async resume(name: string): Promise<void> {
    const md = this.get(name, 'resume');
    if (md.inactive) {
      await md.suspend();
      md.swapTables()?.close();
    }
    try {
      md.resumeIo();
    } catch (err) {
      this.klog(`device-mapper: ${errorMessage(err)}`);
      const target = err instanceof UcryptError ? err.context['preresume'] : undefined;
      // dm_table_resume_targets
      if (typeof target === 'string') this.klog(`device-mapper: table: ${md.devName}: ${target}: preresume failed, error = -${Errno[errnoOf(err)]}`);
      throw ioctlError('resume', errnoOf(err), errorMessage(err), name);
    }
  }

  /** DM_DEV_REMOVE: refused while anything holds the device open. */
  async remove(name: string): Promise<void> {
    const md = this.get(name, 'remove');
    if (md.openCount > 0) {
      throw ioctlError('remove', 'EBUSY', `${name} is in use`, name);
    }
    this.mapped.delete(name);
    this.nodes.delete(md.devName);
    md.failDeferred(new UcryptError('ERR_NO_DEVICE', 'EIO', `${name} was removed`));
    if (md.live && !md.suspended) await md.live.flush().catch(() => undefined);
    md.live?.close();
    md.inactive?.close();
    md.live = undefined;
    md.inactive = undefined;
  }

  /** DM_REMOVE_ALL: removes every device nothing holds, repeating until no more can go. */
  async removeAll(): Promise<string[]> {
    const removed: string[] = [];
    for (;;) {
      const free = [...this.mapped.values()].filter((md) => md.openCount === 0);
      if (free.length === 0) break;
      for (const md of free) {
        await this.remove(md.name);
        removed.push(md.name);
      }
    }
    return removed;
  }

  /** DM_TARGET_MSG: the sector picks the target (the kernel's dm_table_find_target). */
  async message(name: string, sector: number, argv: readonly string[]): Promise<string> {
    const md = this.get(name, 'message');
    const table = md.live;
    const t = table?.targets.find((x) => sector >= x.start && sector < x.start + x.len);
    if (!table || !t) {
      this.klog('device-mapper: ioctl: Target message sector outside device.');
      throw ioctlError('message', 'EINVAL', 'Target message sector outside device.', name);
    }
    if (!t.target.message) {
      this.klog('device-mapper: ioctl: Target type does not support messages');
      throw ioctlError('message', 'EINVAL', 'Target type does not support messages', name);
    }
    try {
      return await t.target.message(argv, md.suspended);
    } catch (err) {
      // Some refusals are only an errno in the kernel (crypt's `key set` with a wrong key).
      if (!(err instanceof UcryptError && err.context['silent'] === true)) this.klog(`device-mapper: ${t.type.name}: ${errorMessage(err)}`);
      throw ioctlError('message', errnoOf(err), errorMessage(err), name);
    }
  }

  info(name: string): DeviceInfo {
    const md = this.get(name, 'info');
    const t = md.live ?? md.inactive;
    return {
      name: md.name,
      uuid: md.uuid,
      major: DM_MAJOR,
      minor: md.minor,
      suspended: md.suspended,
      readOnly: md.readOnly,
      tablesPresent: md.tablesPresent,
      openCount: md.openCount,
      eventNr: md.eventNr,
      targetCount: md.live ? md.live.targets.length : 0,
      size: t?.size ?? 0,
      limits: md.limits,
    };
  }

  /** Table or status lines of the live (or inactive) table; empty when there is none. */
  lines(name: string, opts: { status: boolean; inactive?: boolean; showKeys?: boolean }): string[] {
    const md = this.get(name, opts.status ? 'status' : 'table');
    const table = opts.inactive ? md.inactive : md.live;
    return table ? table.lines(opts.status ? 'info' : 'table', { showKeys: opts.showKeys ?? false }) : [];
  }

  /** Mapped devices in creation (minor) order. */
  list(): MappedDevice[] {
    return [...this.mapped.values()].sort((a, b) => a.minor - b.minor);
  }

  /**
   * What a device's live table holds: [MAJ:MIN key, kname, mapped name if any], newest first,
   * as the kernel keeps a table's device list (dm_get_device adds at the head).
   */
  deps(name: string): { key: string; kname: string; mapped: string | undefined }[] {
    const md = this.get(name, 'info');
    const refs = md.live?.refs ?? [];
    const seen = new Set<string>();
    const out = [];
    for (const r of refs) {
      if (seen.has(r.devName)) continue;
      seen.add(r.devName);
      out.push({ key: r.devName, kname: r.kname, mapped: this.mappedByKey(r.devName)?.name });
    }
    return out.reverse();
  }

  /** A BlockDevice by any name a table accepts, plus `ramN` and bare mapped names. */
  async device(path: string): Promise<BlockDevice | undefined> {
    if (this.mapped.has(path)) return this.mapped.get(path);
    const m = /^ram(\d+)$/.exec(path);
    if (m) return this.ramDisks[Number(m[1])];
    return (await this.lookup(path))?.node.dev;
  }

  targetVersions(): { name: string; version: string }[] {
    return listTargetTypes().map((t) => ({ name: t.name, version: t.version.join('.') }));
  }

  /** Flushes every device (daemon shutdown). */
  async flushAll(): Promise<void> {
    for (const md of this.list()) if (!md.suspended) await md.flush().catch(() => undefined);
    for (const node of this.nodes.values()) if (node.dev instanceof FileDevice) await node.dev.flush().catch(() => undefined);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await fsp.stat(path);
    return true;
  } catch {
    return false;
  }
}
