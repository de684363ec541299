// plain: the IV is the low 32 bits of the sector number, little-endian, zero padded
// (crypt_iv_plain_gen). Wraps at 2^32 sectors (2 TiB); plain64 does not.

import type { IvGenerator, IvMode } from './types.js';
import { putLe32 } from './types.js';

export const plainIv: IvMode = {
  name: 'plain',
  create(p): IvGenerator {
    const ivSize = p.ivSize;
    return {
      generate(_dir, ivs, _data, sectors, n) {
        ivs.fill(0, 0, n * ivSize);
        for (let i = 0, off = 0; i < n; i++, off += ivSize) putLe32(ivs, off, sectors[2 * i]!);
      },
    };
  },
};
