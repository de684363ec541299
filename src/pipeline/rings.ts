// Shared-memory layout of a kcryptd pool: one Int32Array over one SharedArrayBuffer holds a
// global header, then per worker a control block, a submission ring (main -> worker, SPSC) and a
// completion ring (worker -> main, SPSC). Nothing here allocates per request: a request is a
// few integers written into a preallocated slot.
//
//   global:   [MAIN_SEQ, MAIN_WAITING, MAIN_POLLING, pad...]                     (GLOBAL words)
//   worker i: ctrl   [SUB_HEAD, SUB_TAIL, SUB_SEQ, SLEEPING, CTRL_SEQ, CMP_HEAD, CMP_TAIL, STOP]
//             sub    RING slots x SUB_WORDS  [tag, dir, bufId, byteOff, len, secLo, secHi, target,
//                                              op, srcBuf, srcOff, disk, diskOffLo, diskOffHi, -, -]
//             cmp    RING slots x CMP_WORDS  [tag, status, target, -]
//
// Wake-ups (the kernel's queue_work -> worker wake-up, and the bio completion):
//   - a worker sleeps in Atomics.wait(SUB_SEQ) only after setting SLEEPING and re-checking its
//     ring; the main thread bumps SUB_SEQ on every push/control event and calls Atomics.notify
//     only when SLEEPING is set (no syscall while the worker is busy).
//   - the main thread never blocks: when it has requests out and nothing to complete it sets
//     MAIN_WAITING and arms one Atomics.waitAsync(MAIN_SEQ); workers bump MAIN_SEQ per completion
//     and notify only while MAIN_WAITING is set, so one wake-up collects a whole batch.

/** Slots per ring (a power of two); the main thread never has more than this out per worker. */
export const RING = 256;
export const RING_MASK = RING - 1;

export const GLOBAL = 16;
export const MAIN_SEQ = 0;
export const MAIN_WAITING = 1;
/** The main thread is polling MAIN_SEQ for a completion (kcryptd.ts POLL_US). */
export const MAIN_POLLING = 2;

export const CTRL_WORDS = 16;
export const SUB_HEAD = 0;
export const SUB_TAIL = 1;
export const SUB_SEQ = 2;
export const SLEEPING = 3;
export const CTRL_SEQ = 4;
export const CMP_HEAD = 5;
export const CMP_TAIL = 6;
export const STOP = 7;

export const SUB_WORDS = 16;
export const S_TAG = 0;
export const S_DIR = 1;
export const S_BUF = 2;
export const S_OFF = 3;
export const S_LEN = 4;
export const S_SEC_LO = 5;
export const S_SEC_HI = 6;
export const S_TARGET = 7;
export const S_OP = 8;
export const S_SRC_BUF = 9;
export const S_SRC_OFF = 10;
export const S_DISK = 11;
export const S_DOFF_LO = 12;
export const S_DOFF_HI = 13;

/**
 * What a worker does with an item (S_OP). The *_DISK ops touch a registered RAM disk's pages
 * (backends/ram) themselves, so the main thread copies nothing:
 *   OP_CRYPT     crypt_convert in place over buf[off, off + len)
 *   OP_READ      the lower read and the decryption: disk[diskOff..] -> buf[off..], decrypt there
 *   OP_COPY_ENC  the write clone and its encryption: src[srcOff..] -> buf[off..], encrypt there
 *   OP_ENC_DISK  encrypt src[srcOff..] (through worker-private scratch) into the disk's pages
 *                (pages allocated by the main thread first); the plaintext never touches them
 */
export const OP_CRYPT = 0;
export const OP_READ = 1;
export const OP_COPY_ENC = 2;
export const OP_ENC_DISK = 3;

export const CMP_WORDS = 4;
export const C_TAG = 0;
export const C_STATUS = 1;
export const C_TARGET = 2;

export const DIR_ENCRYPT = 0;
export const DIR_DECRYPT = 1;

export const STATUS_OK = 0;
export const STATUS_ERROR = 1;

const PER_WORKER = CTRL_WORDS + RING * SUB_WORDS + RING * CMP_WORDS;

/** Word index of worker i's control block; its rings follow it. */
export function ctrlBase(i: number): number {
  return GLOBAL + i * PER_WORKER;
}

export function subBase(i: number): number {
  return ctrlBase(i) + CTRL_WORDS;
}

export function cmpBase(i: number): number {
  return subBase(i) + RING * SUB_WORDS;
}

export function ringWords(workers: number): number {
  return GLOBAL + workers * PER_WORKER;
}

/** Control messages over a worker's MessagePort (rare: keys, buffer registrations). */
export type ControlMessage =
  | { readonly type: 'target'; readonly target: number; readonly spec: unknown; readonly key: Uint8Array | undefined }
  | { readonly type: 'untarget'; readonly target: number }
  | { readonly type: 'key'; readonly target: number; readonly key: Uint8Array }
  | { readonly type: 'wipe'; readonly target: number }
  | { readonly type: 'buf'; readonly id: number; readonly sab: SharedArrayBuffer }
  | { readonly type: 'unbuf'; readonly id: number }
  /** A RAM disk's page table and its slabs by index (backends/ram/ramdisk.ts). */
  | { readonly type: 'disk'; readonly id: number; readonly pageTable: SharedArrayBuffer; readonly slabs: readonly (readonly [number, SharedArrayBuffer])[] }
  /** A slab opened (sab) or released (undefined); slab indices are never reused. */
  | { readonly type: 'slab'; readonly disk: number; readonly index: number; readonly sab: SharedArrayBuffer | undefined }
  | { readonly type: 'undisk'; readonly id: number }
  | { readonly type: 'crash' };
