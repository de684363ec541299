// plain64be: the 64-bit sector number, big-endian, in the last 8 bytes of the IV
// (crypt_iv_plain64be_gen).

import type { IvGenerator, IvMode } from './types.js';
import { putBe32 } from './types.js';

export const plain64beIv: IvMode = {
  name: 'plain64be',
  create(p): IvGenerator {
    const ivSize = p.ivSize;
    return {
      generate(_dir, ivs, _data, sectors, n) {
        ivs.fill(0, 0, n * ivSize);
        for (let i = 0, off = ivSize - 8; i < n; i++, off += ivSize) {
          putBe32(ivs, off, sectors[2 * i + 1]!);
          putBe32(ivs, off + 4, sectors[2 * i]!);
        }
      },
    };
  },
};
