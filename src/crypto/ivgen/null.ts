// null: an all-zero IV for every sector (crypt_iv_null_gen; loop_fish2 compatibility).

import type { IvGenerator, IvMode } from './types.js';

export const nullIv: IvMode = {
  name: 'null',
  create(p): IvGenerator {
    const ivSize = p.ivSize;
    return {
      generate(_dir, ivs, _data, _sectors, n) {
        ivs.fill(0, 0, n * ivSize);
      },
    };
  },
};
