// tcw: TrueCrypt (before 4.1) compatible IVs and whitening (crypt_iv_tcw_*). 512-byte sectors,
// CBC. The key ends with an IV seed (iv_size bytes) and 16 bytes of whitening seed:
//
//   IV        = iv_seed XOR le64(sector) (both 8-byte halves of a 16-byte IV)
//   whitening = w XOR le64(sector) in each 8-byte half; each 32-bit quarter replaced by its
//               crc32_le(0, ...); then q0 ^= q3, q1 ^= q2; the first 8 bytes are XORed over the
//               whole sector (after encryption on write, before decryption on read).

import { crc32le } from './crc32.js';
import type { Direction, IvGenerator, IvMode, IvParams } from './types.js';
import { IvError, putLe32 } from './types.js';

const TCW_WHITENING_SIZE = 16;

class TcwGenerator implements IvGenerator {
  private readonly ivSeed: Uint8Array;
  private readonly whitening = new Uint8Array(TCW_WHITENING_SIZE);
  private readonly buf = new Uint8Array(TCW_WHITENING_SIZE);
  private readonly sector = new Uint8Array(8);

  constructor(private readonly p: IvParams) {
    this.ivSeed = new Uint8Array(p.ivSize);
  }

  init(key: Uint8Array): void {
    const off = this.p.keySize - this.p.ivSize - TCW_WHITENING_SIZE;
    this.ivSeed.set(key.subarray(off, off + this.p.ivSize));
    this.whitening.set(key.subarray(off + this.p.ivSize, off + this.p.ivSize + TCW_WHITENING_SIZE));
  }

  wipe(): void {
    this.ivSeed.fill(0);
    this.whitening.fill(0);
  }

  secrets(): readonly Uint8Array[] {
    return [this.ivSeed, this.whitening];
  }

  private setSector(lo: number, hi: number): void {
    putLe32(this.sector, 0, lo);
    putLe32(this.sector, 4, hi);
  }

  /** crypt_iv_tcw_whitening over the 512-byte sector at data[off..] (sector already set). */
  private whiten(data: Uint8Array, off: number): void {
    const buf = this.buf;
    const w = this.whitening;
    const s = this.sector;
    for (let i = 0; i < 8; i++) {
      buf[i] = w[i]! ^ s[i]!;
      buf[8 + i] = w[8 + i]! ^ s[i]!;
    }
    for (let i = 0; i < 4; i++) putLe32(buf, i * 4, crc32le(0, buf, i * 4, 4));
    for (let i = 0; i < 4; i++) {
      buf[i]! ^= buf[12 + i]!;
      buf[4 + i]! ^= buf[8 + i]!;
    }
    for (let i = 0; i < 512; i += 8) for (let k = 0; k < 8; k++) data[off + i + k]! ^= buf[k]!;
    buf.fill(0);
  }

  generate(dir: Direction, ivs: Uint8Array, data: Uint8Array, sectors: Uint32Array, n: number): void {
    const ivSize = this.p.ivSize;
    const seed = this.ivSeed;
    const s = this.sector;
    for (let i = 0; i < n; i++) {
      this.setSector(sectors[2 * i]!, sectors[2 * i + 1]!);
      // Remove whitening from the ciphertext before decryption.
      if (dir === 'decrypt') this.whiten(data, i * 512);
      const off = i * ivSize;
      for (let k = 0; k < ivSize; k++) ivs[off + k] = seed[k]! ^ (k < 16 ? s[k & 7]! : 0);
    }
    s.fill(0);
  }

  post(dir: Direction, _ivs: Uint8Array, data: Uint8Array, sectors: Uint32Array, n: number): void {
    if (dir === 'decrypt') return;
    // Apply whitening on the ciphertext.
    for (let i = 0; i < n; i++) {
      this.setSector(sectors[2 * i]!, sectors[2 * i + 1]!);
      this.whiten(data, i * 512);
    }
    this.sector.fill(0);
  }
}

export const tcwIv: IvMode = {
  name: 'tcw',
  layout(l, _keySize, ivSize) {
    l.keyParts += 2; // IV seed + whitening
    l.keyExtraSize = ivSize + TCW_WHITENING_SIZE;
    return true;
  },
  create(p): IvGenerator {
    if (p.sectorSize !== 512) throw new IvError('Unsupported sector size for TCW');
    if (p.keySize <= p.ivSize + TCW_WHITENING_SIZE) throw new IvError('Wrong key size for TCW');
    return new TcwGenerator(p);
  },
};
