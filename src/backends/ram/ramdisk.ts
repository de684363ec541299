// A RAM disk with the semantics of Linux brd (drivers/block/brd.c): storage is 4 KiB pages
// allocated on first write, unwritten pages read as zeros, and discard frees whole pages only
// (a partial page keeps its data, as brd_do_discard does).
//
// Memory lives in SharedArrayBuffers so worker threads can touch pages in place:
//
//   pageTable (Int32Array over one SAB, one entry per disk page)
//     entry 0      -> hole (reads as zeros)
//     entry s + 1  -> page slot s = slab (s >> 8), page (s & 255) inside that slab
//   slabs[k]       -> Uint8Array over a 1 MiB SAB holding 256 pages, allocated on demand and
//                     released when its last page is discarded
//
// kcryptd workers read and write pages in place (src/pipeline/worker.ts): they get the page
// table and every slab through a SlabObserver. A slab index is never reused (a released slab's
// index stays a hole), so a worker that still knows an old slab under index k can never mistake
// it for a newer one.
//
// The page table of an idle disk is untouched zero memory (not resident), so a 4 GiB disk costs
// about nothing until written.

import type { BlockDevice, BlockLimits, WriteFlags, WriteZeroesFlags } from '../../block/device.js';
import { checkIo, checkWritable } from '../../block/device.js';
import { UcryptError } from '../../errors.js';
import { copyInto } from './copy.js';

export const PAGE_SIZE = 4096;
const PAGE_SHIFT = 12;
const PAGES_PER_SLAB = 256;
const SLAB_SHIFT = 8;
const SLAB_BYTES = PAGE_SIZE * PAGES_PER_SLAB;

export interface RamDiskStats {
  /** Pages currently holding data. */
  readonly pages: number;
  /** Bytes of slab memory currently allocated (pages plus slab slack). */
  readonly slabBytes: number;
}

/** Told about every slab opened or released (kcryptd pools that touch pages in place). */
export type SlabObserver = (index: number, sab: SharedArrayBuffer | undefined) => void;

export class RamDisk implements BlockDevice {
  readonly size: number;
  readonly limits: BlockLimits;
  /** Shared page table; see the diagram above. */
  readonly pageTable: Int32Array;
  private readonly slabs: (Uint8Array | undefined)[] = [];
  private readonly slabUse: number[] = [];
  /** Free slots in allocated slabs (insertion-ordered, O(1) delete when a slab is released). */
  private readonly freeSlots = new Set<number>();
  private pagesInUse = 0;
  private readonly observers = new Set<SlabObserver>();
  /** I/O on other threads in flight over page slots (pin/unpin). */
  private pins = 0;
  /** Slots freed while pinned: reused only once nothing is pinned. */
  private quarantine: number[] = [];

  constructor(sizeBytes: number) {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % PAGE_SIZE !== 0) {
      throw new UcryptError('ERR_BRD', 'EINVAL', `RAM disk size ${sizeBytes} must be a positive multiple of ${PAGE_SIZE} bytes`);
    }
    this.size = sizeBytes;
    this.pageTable = new Int32Array(new SharedArrayBuffer((sizeBytes / PAGE_SIZE) * 4));
    // brd: 512-byte logical blocks, PAGE_SIZE physical blocks, discard in whole pages.
    this.limits = { logicalBlockSize: 512, physicalBlockSize: PAGE_SIZE, maxTransfer: 32 << 20, discard: true, writeZeroes: true, readOnly: false };
  }

  stats(): RamDiskStats {
    let slabs = 0;
    for (const s of this.slabs) if (s) slabs++;
    return { pages: this.pagesInUse, slabBytes: slabs * SLAB_BYTES };
  }

  /** The slab holding a page slot, for views that touch pages in place (worker threads). */
  slab(index: number): Uint8Array | undefined {
    return this.slabs[index];
  }

  /** Every slab now, as [index, memory] (for an observer's first view). */
  slabList(): [number, SharedArrayBuffer][] {
    const out: [number, SharedArrayBuffer][] = [];
    this.slabs.forEach((s, k) => {
      if (s) out.push([k, s.buffer as SharedArrayBuffer]);
    });
    return out;
  }

  observe(o: SlabObserver): void {
    this.observers.add(o);
  }

  unobserve(o: SlabObserver): void {
    this.observers.delete(o);
  }

  /**
   * Another thread is about to touch pages it looked up in the page table. Until unpin(), a
   * slot freed by a discard is not handed to another page (an overlapping discard may still
   * lose the data, as it may in brd, but never moves it into a different page).
   */
  pin(): void {
    this.pins++;
  }

  unpin(): void {
    if (--this.pins > 0 || this.quarantine.length === 0) return;
    for (const slot of this.quarantine) if (this.slabs[slot >> SLAB_SHIFT]) this.freeSlots.add(slot);
    this.quarantine = [];
  }

  /**
   * Allocates the pages of [offset, offset + length) that are holes (what writeSync would do
   * first), for a writer on another thread that copies into them afterwards.
   */
  ensurePages(offset: number, length: number): void {
    const end = Math.ceil((offset + length) / PAGE_SIZE);
    for (let page = Math.floor(offset / PAGE_SIZE); page < end; page++) if (this.pageTable[page] === 0) this.allocPage(page);
  }

  async read(offset: number, buf: Uint8Array): Promise<void> {
    checkIo(this, 'read', offset, buf.length);
    this.readSync(offset, buf);
  }

  async write(offset: number, buf: Uint8Array, _flags?: WriteFlags): Promise<void> {
    checkIo(this, 'write', offset, buf.length);
    checkWritable(this, 'write');
    this.writeSync(offset, buf);
  }

  /** brd completes every bio in submit_bio: always synchronous (BlockDevice.readNow). */
  readNow(offset: number, buf: Uint8Array): boolean {
    checkIo(this, 'read', offset, buf.length);
    this.readSync(offset, buf);
    return true;
  }

  writeNow(offset: number, buf: Uint8Array, _flags?: WriteFlags): boolean {
    checkIo(this, 'write', offset, buf.length);
    checkWritable(this, 'write');
    this.writeSync(offset, buf);
    return true;
  }

  /** RAM is as durable as it gets: flush and FUA have nothing to wait for. */
  async flush(): Promise<void> {}

  async discard(offset: number, length: number): Promise<void> {
    checkIo(this, 'discard', offset, length);
    checkWritable(this, 'discard');
    // brd_do_discard: only pages wholly inside the range are freed.
    const first = Math.ceil(offset / PAGE_SIZE);
    const end = Math.floor((offset + length) / PAGE_SIZE);
    for (let p = first; p < end; p++) this.freePage(p);
  }

  async writeZeroes(offset: number, length: number, flags?: WriteZeroesFlags): Promise<void> {
    checkIo(this, 'write-zeroes', offset, length);
    checkWritable(this, 'write-zeroes');
    let pos = offset;
    const end = offset + length;
    while (pos < end) {
      const page = Math.floor(pos / PAGE_SIZE);
      const inPage = pos - page * PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - inPage, end - pos);
      if (n === PAGE_SIZE && !flags?.noUnmap) {
        this.freePage(page);
      } else {
        const slot = this.pageTable[page]! - 1;
        if (slot >= 0) this.pageBytes(slot).fill(0, inPage, inPage + n);
        else if (flags?.noUnmap) this.allocPage(page);
      }
      pos += n;
    }
  }

  /** Synchronous read for in-process callers that already checked the range. */
  readSync(offset: number, buf: Uint8Array): void {
    const pt = this.pageTable;
    const len = buf.length;
    let done = 0;
    while (done < len) {
      const pos = offset + done;
      let page = Math.floor(pos / PAGE_SIZE);
      const inPage = pos - page * PAGE_SIZE;
      let n = Math.min(PAGE_SIZE - inPage, len - done);
      let slot = pt[page]! - 1;
      if (slot < 0) {
        while (done + n < len && pt[page + 1] === 0) {
          page++;
          n = Math.min(n + PAGE_SIZE, len - done);
        }
        buf.fill(0, done, done + n);
      } else {
        const slab = this.slabs[slot >> SLAB_SHIFT]!;
        const start = ((slot & (PAGES_PER_SLAB - 1)) << PAGE_SHIFT) + inPage;
        // Pages stored one after another in the same slab are one copy.
        while (done + n < len && ((slot + 1) & (PAGES_PER_SLAB - 1)) !== 0 && pt[page + 1] === slot + 2) {
          page++;
          slot++;
          n = Math.min(n + PAGE_SIZE, len - done);
        }
        copyInto(buf, slab.subarray(start, start + n), done);
      }
      done += n;
    }
  }

  /** Synchronous write for in-process callers that already checked the range. */
  writeSync(offset: number, buf: Uint8Array): void {
    const pt = this.pageTable;
    const len = buf.length;
    let done = 0;
    while (done < len) {
      const pos = offset + done;
      let page = Math.floor(pos / PAGE_SIZE);
      const inPage = pos - page * PAGE_SIZE;
      let n = Math.min(PAGE_SIZE - inPage, len - done);
      let slot = pt[page]! - 1;
      if (slot < 0) slot = this.allocPage(page);
      const slab = this.slabs[slot >> SLAB_SHIFT]!;
      const start = ((slot & (PAGES_PER_SLAB - 1)) << PAGE_SHIFT) + inPage;
      // Following pages (allocated now if holes) stored right after this one join the copy.
      while (done + n < len && ((slot + 1) & (PAGES_PER_SLAB - 1)) !== 0) {
        // A hole is allocated now (as the next iteration would); it joins when it got the next slot.
        if ((pt[page + 1] === 0 ? this.allocPage(page + 1) + 1 : pt[page + 1]) !== slot + 2) break;
        page++;
        slot++;
        n = Math.min(n + PAGE_SIZE, len - done);
      }
      copyInto(slab, n === len ? buf : buf.subarray(done, done + n), start);
      done += n;
    }
  }

  /** Drops every page (used when the module is unloaded). */
  clear(): void {
    this.pageTable.fill(0);
    // Indices are not reused (see above): the released slabs leave holes.
    for (let k = 0; k < this.slabs.length; k++) {
      if (!this.slabs[k]) continue;
      this.slabs[k] = undefined;
      this.slabUse[k] = 0;
      for (const o of this.observers) o(k, undefined);
    }
    this.freeSlots.clear();
    this.quarantine = [];
    this.pagesInUse = 0;
  }

  private pageBytes(slot: number): Uint8Array {
    const start = (slot & (PAGES_PER_SLAB - 1)) << PAGE_SHIFT;
    return this.slabs[slot >> SLAB_SHIFT]!.subarray(start, start + PAGE_SIZE);
  }

  private allocPage(page: number): number {
    let slot: number;
    const it = this.freeSlots.values().next();
    if (!it.done) {
      slot = it.value;
      this.freeSlots.delete(slot);
    } else {
      // No free slot: open a new slab under a new index (never a released one, see above).
      const k = this.slabs.length;
      const sab = new SharedArrayBuffer(SLAB_BYTES);
      this.slabs[k] = new Uint8Array(sab);
      this.slabUse[k] = 0;
      // Observers hear of the slab before any page table entry points into it.
      for (const o of this.observers) o(k, sab);
      slot = k << SLAB_SHIFT;
      for (let i = 1; i < PAGES_PER_SLAB; i++) this.freeSlots.add(slot + i);
    }
    const k = slot >> SLAB_SHIFT;
    this.slabUse[k] = this.slabUse[k]! + 1;
    this.pageTable[page] = slot + 1;
    this.pagesInUse++;
    return slot;
  }

  private freePage(page: number): void {
    const slot = this.pageTable[page]! - 1;
    if (slot < 0) return;
    this.pageTable[page] = 0;
    this.pagesInUse--;
    const k = slot >> SLAB_SHIFT;
    const use = this.slabUse[k]! - 1;
    this.slabUse[k] = use;
    if (use === 0) {
      // Last page of the slab: give the whole slab back.
      for (let i = 0; i < PAGES_PER_SLAB; i++) this.freeSlots.delete((k << SLAB_SHIFT) + i);
      this.slabs[k] = undefined;
      for (const o of this.observers) o(k, undefined);
    } else {
      this.pageBytes(slot).fill(0);
      if (this.pins > 0) this.quarantine.push(slot);
      else this.freeSlots.add(slot);
    }
  }
}
