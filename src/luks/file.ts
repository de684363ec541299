// HeaderIO over a file or block device (node:fs): the glue between the pure format code and disk.

import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { HeaderIO } from './io.js';
import { LuksError } from './errors.js';

export interface FileHeaderIO extends HeaderIO {
  readonly path: string;
  close(): Promise<void>;
}

export async function openFileIO(path: string, writable: boolean): Promise<FileHeaderIO> {
  let fh: FileHandle;
  try {
    fh = await open(path, writable ? 'r+' : 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new LuksError('ERR_LUKS_IO', code === 'ENOENT' ? `Device ${path} does not exist or access denied.` : `Cannot open device ${path}: ${code ?? String(e)}.`, 4);
  }
  return {
    path,
    async read(offset, length) {
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(out, done, length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return out;
    },
    async write(offset, data) {
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await fh.write(data, done, data.length - done, offset + done);
        done += bytesWritten;
      }
    },
    async sync() {
      await fh.sync();
    },
    async size() {
      const st = await fh.stat();
      if (st.isBlockDevice()) {
        // stat reports 0 for block devices: seek-free probe by reading the size from the end.
        return Number((await fh.stat({ bigint: true })).size);
      }
      return st.size;
    },
    async close() {
      await fh.close();
    },
  };
}
