// random: a random IV per write, stored in per-sector integrity metadata (crypt_iv_random_gen).
// It needs an integrity-capable device underneath (dm-integrity), which ucrypt does not have, so
// the table constructor refuses it with "Integrity profile not supported." before any I/O.

import { randomFillSync } from 'node:crypto';
import type { IvGenerator, IvMode } from './types.js';

export const randomIv: IvMode = {
  name: 'random',
  layout(l, _keySize, ivSize) {
    // Need storage space in integrity fields.
    l.integrityIvSize = ivSize;
    return true;
  },
  create(p): IvGenerator {
    const ivSize = p.ivSize;
    return {
      generate(_dir, ivs, _data, _sectors, n) {
        randomFillSync(ivs, 0, n * ivSize);
      },
    };
  },
};
