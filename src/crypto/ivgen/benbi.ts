// benbi: the big-endian 64-bit count of cipher-block-sized ("narrow") blocks, starting at 1, in
// the last 8 bytes of the IV: (sector << (9 - log2(blocksize))) + 1 (crypt_iv_benbi_*).

import type { IvGenerator, IvMode } from './types.js';
import { IvError, putBe32 } from './types.js';

export const benbiIv: IvMode = {
  name: 'benbi',
  create(p): IvGenerator {
    const bs = p.cipherBlockSize;
    const log = 31 - Math.clz32(bs);
    if (1 << log !== bs) throw new IvError('cypher blocksize is not a power of 2');
    if (log > 9) throw new IvError('cypher blocksize is > 512');
    const shift = 9 - log;
    const ivSize = p.ivSize;
    return {
      generate(_dir, ivs, _data, sectors, n) {
        ivs.fill(0, 0, n * ivSize);
        for (let i = 0, off = ivSize - 8; i < n; i++, off += ivSize) {
          const lo = sectors[2 * i]!;
          const hi = sectors[2 * i + 1]!;
          // u64 (hi:lo) << shift, then + 1, all modulo 2^64.
          let l = shift === 0 ? lo : (lo << shift) >>> 0;
          let h = shift === 0 ? hi : ((hi << shift) | (lo >>> (32 - shift))) >>> 0;
          l = (l + 1) >>> 0;
          if (l === 0) h = (h + 1) >>> 0;
          putBe32(ivs, off, h);
          putBe32(ivs, off + 4, l);
        }
      },
    };
  },
};
