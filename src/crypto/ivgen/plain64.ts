// plain64: the IV is the 64-bit sector number, little-endian, zero padded (crypt_iv_plain64_gen).

import type { IvGenerator, IvMode } from './types.js';
import { putLe32 } from './types.js';

/** Writes each sector number as a little-endian u64 at the start of its zeroed IV. */
export function fillLe64(ivs: Uint8Array, ivSize: number, sectors: Uint32Array, n: number): void {
  ivs.fill(0, 0, n * ivSize);
  for (let i = 0, off = 0; i < n; i++, off += ivSize) {
    putLe32(ivs, off, sectors[2 * i]!);
    putLe32(ivs, off + 4, sectors[2 * i + 1]!);
  }
}

export const plain64Iv: IvMode = {
  name: 'plain64',
  create(p): IvGenerator {
    const ivSize = p.ivSize;
    return {
      generate(_dir, ivs, _data, sectors, n) {
        fillLe64(ivs, ivSize, sectors, n);
      },
    };
  },
};
