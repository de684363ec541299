// eboiv: encrypted byte-offset IV (BitLocker CBC). The IV is the bulk cipher (key index 0, the
// kernel's any_tfm) encrypting one all-zero IV-sized block with the IV set to the little-endian
// byte offset iv_sector * sector_size (crypt_iv_eboiv_gen). For CBC that is E_K(le64(offset)).
//
// Batched: every sector's offset goes into one IV buffer and all zero blocks are encrypted in a
// single skcipher call with "sector size" = IV size.

import type { IvGenerator, IvMode, IvParams } from './types.js';
import { IvError, putLe32 } from './types.js';

/** crypt_iv_eboiv_ctr's checks (also used by elephant). */
export function eboivCheck(p: IvParams): void {
  if (p.aead) throw new IvError('AEAD transforms not supported for EBOIV');
  if (p.cipherBlockSize !== p.ivSize) throw new IvError('Block size of EBOIV cipher does not match IV size of block cipher');
}

/** Computes eboiv IVs for n sectors into `ivs`, using `scratch` (grown as needed). */
export class EboivGenerator {
  private zeros = new Uint8Array(0);
  private readonly shift: number;

  constructor(private readonly p: IvParams) {
    this.shift = 31 - Math.clz32(p.sectorSize);
  }

  generate(ivs: Uint8Array, sectors: Uint32Array, n: number): void {
    const ivSize = this.p.ivSize;
    const len = n * ivSize;
    if (this.zeros.length < len) this.zeros = new Uint8Array(Math.max(len, this.zeros.length * 2));
    const zeros = this.zeros.subarray(0, len);
    zeros.fill(0);
    ivs.fill(0, 0, len);
    const s = this.shift;
    for (let i = 0, off = 0; i < n; i++, off += ivSize) {
      // le64(iv_sector * sector_size), modulo 2^64; sector_size is a power of two.
      const lo = sectors[2 * i]!;
      const hi = sectors[2 * i + 1]!;
      putLe32(ivs, off, s === 0 ? lo : (lo << s) >>> 0);
      putLe32(ivs, off + 4, s === 0 ? hi : ((hi << s) | (lo >>> (32 - s))) >>> 0);
    }
    this.p.bulk().encrypt(zeros, ivSize, ivs.subarray(0, len));
    ivs.set(zeros, 0);
  }
}

export const eboivIv: IvMode = {
  name: 'eboiv',
  create(p): IvGenerator {
    eboivCheck(p);
    const gen = new EboivGenerator(p);
    return {
      generate(_dir, ivs, _data, sectors, n) {
        gen.generate(ivs, sectors, n);
      },
    };
  },
};
