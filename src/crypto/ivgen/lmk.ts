// lmk: loop-AES compatible IVs (crypt_iv_lmk_*). Always 512-byte sectors, CBC, 64 keys
// (`aes:64-cbc-lmk`); version 3 adds a 65th key part used as an IV seed.
//
//   IV = raw MD5 state after [seed (64 bytes, v3 only)] + data[16..512] + tail, where tail is
//        le32(sector & 0xffffffff), le32(((sector >> 32) & 0xffffff) | 0x80000000), le32(4024), 0
//        (no MD5 padding: the state is exported after exactly 8 or 9 blocks)
//   write: IV computed from the plaintext; read: decrypt with a zero IV, recompute the IV from the
//          decrypted sector (blocks 1..31 do not depend on it) and XOR it into block 0.

import { MD5_INIT, md5Block } from './md5-block.js';
import type { Direction, IvGenerator, IvMode, IvParams } from './types.js';
import { IvError, putLe32 } from './types.js';

const LMK_SEED_SIZE = 64;
const MD5_DIGEST_SIZE = 16;

class LmkGenerator implements IvGenerator {
  private readonly seed: Uint8Array | undefined;
  private readonly state = new Uint32Array(4);
  private readonly w = new Uint32Array(16);
  private readonly last = new Uint8Array(64);
  private readonly ivSize: number;

  constructor(private readonly p: IvParams) {
    this.ivSize = p.ivSize;
    // No seed in LMK version 2.
    this.seed = p.keyParts === p.tfmsCount ? undefined : new Uint8Array(LMK_SEED_SIZE);
  }

  init(key: Uint8Array): void {
    if (!this.seed) return;
    // The seed is the key part after the LMK keys.
    const subkeySize = Math.floor(this.p.keySize / this.p.keyParts);
    const off = this.p.tfmsCount * subkeySize;
    this.seed.set(key.subarray(off, Math.min(off + MD5_DIGEST_SIZE, key.length)));
  }

  wipe(): void {
    this.seed?.fill(0);
  }

  secrets(): readonly Uint8Array[] {
    return this.seed ? [this.seed] : [];
  }

  /** crypt_iv_lmk_one: the IV of the 512-byte sector at data[off..]. */
  private one(iv: Uint8Array, ivOff: number, data: Uint8Array, off: number, lo: number, hi: number): void {
    const st = this.state;
    st[0] = MD5_INIT[0];
    st[1] = MD5_INIT[1];
    st[2] = MD5_INIT[2];
    st[3] = MD5_INIT[3];
    if (this.seed) md5Block(st, this.seed, 0, this.w);
    // Blocks 1-31 of the sector (496 bytes): seven whole MD5 blocks, then 48 bytes + the tail.
    for (let k = 0; k < 7; k++) md5Block(st, data, off + 16 + 64 * k, this.w);
    const last = this.last;
    last.set(data.subarray(off + 16 + 448, off + 512), 0);
    putLe32(last, 48, lo);
    putLe32(last, 52, ((hi & 0x00ffffff) | 0x80000000) >>> 0);
    putLe32(last, 56, 4024);
    putLe32(last, 60, 0);
    md5Block(st, last, 0, this.w);
    const n = Math.min(this.ivSize, 16);
    for (let i = 0; i < n; i++) iv[ivOff + i] = (st[i >> 2]! >>> ((i & 3) * 8)) & 0xff;
    if (this.ivSize > 16) iv.fill(0, ivOff + 16, ivOff + this.ivSize);
  }

  generate(dir: Direction, ivs: Uint8Array, data: Uint8Array, sectors: Uint32Array, n: number): void {
    const ivSize = this.ivSize;
    if (dir === 'decrypt') {
      ivs.fill(0, 0, n * ivSize);
      return;
    }
    for (let i = 0; i < n; i++) this.one(ivs, i * ivSize, data, i * 512, sectors[2 * i]!, sectors[2 * i + 1]!);
  }

  post(dir: Direction, ivs: Uint8Array, data: Uint8Array, sectors: Uint32Array, n: number): void {
    if (dir === 'encrypt') return;
    const ivSize = this.ivSize;
    for (let i = 0; i < n; i++) {
      const ivOff = i * ivSize;
      this.one(ivs, ivOff, data, i * 512, sectors[2 * i]!, sectors[2 * i + 1]!);
      // Tweak the first block of the plaintext sector.
      for (let k = 0; k < ivSize; k++) data[i * 512 + k]! ^= ivs[ivOff + k]!;
    }
  }
}

export const lmkIv: IvMode = {
  name: 'lmk',
  layout(l, keySize) {
    // Version 2 and 3 are told apart by the key length: a 65th part (the IV seed) makes v3.
    if (keySize % l.keyParts) {
      l.keyParts++;
      l.keyExtraSize = Math.floor(keySize / l.keyParts);
    }
    return true;
  },
  create(p): IvGenerator {
    if (p.sectorSize !== 512) throw new IvError('Unsupported sector size for LMK');
    return new LmkGenerator(p);
  },
};
