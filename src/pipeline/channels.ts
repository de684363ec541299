// Diagnostics channels of the crypt pipeline (node:diagnostics_channel). Publishing costs a
// branch when nobody subscribes; messages are built only for subscribers.
//
//   ucrypt:crypt:write-submit  { sector, length, batch, direct }  an encrypted write goes to the
//                              lower device: `direct` when submitted from the crypt context
//                              (no_write_workqueue, submit_from_crypt_cpus), otherwise by the
//                              dmcrypt_write drain number `batch`, in ascending sector order.
//   ucrypt:io:start            { op, offset, length }             a crypt target I/O begins
//   ucrypt:io:done             { op, offset, length }             ... and completes
//   ucrypt:io:error            { op, offset, length, error }      ... or fails

import { channel } from 'node:diagnostics_channel';

export const writeSubmitChannel = channel('ucrypt:crypt:write-submit');
export const ioStartChannel = channel('ucrypt:io:start');
export const ioDoneChannel = channel('ucrypt:io:done');
export const ioErrorChannel = channel('ucrypt:io:error');

export interface WriteSubmitMessage {
  /** First 512-byte sector of the write, relative to the target. */
  readonly sector: number;
  readonly length: number;
  /** dmcrypt_write drain number (0 for direct submissions). */
  readonly batch: number;
  readonly direct: boolean;
}

export interface IoMessage {
  readonly op: 'read' | 'write' | 'flush';
  readonly offset: number;
  readonly length: number;
  readonly error?: unknown;
}
