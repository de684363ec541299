// elephant: BitLocker's AES-CBC with the Elephant diffuser (Windows Vista/7), crypt_iv_elephant_*
// in dm-crypt. The key is two halves: the CBC key and the sector-key key (AES, ecb(aes)).
//
//   Ks     = AES_k2(le64(offset) 0..0) || AES_k2(le64(offset) 0..0 0x80)   (32 bytes per sector)
//   write: P ^= Ks (repeated every 32 bytes); diffuser A; diffuser B; then CBC with the eboiv IV
//   read:  CBC decrypt; diffuser B^-1; diffuser A^-1; P ^= Ks
//
// offset = iv_sector * sector_size. The diffusers work on little-endian 32-bit words.

import type { BlockCipher } from '../types.js';
import { getBlockCipher } from '../registry.js';
import { EboivGenerator, eboivCheck } from './eboiv.js';
import type { Direction, IvGenerator, IvMode, IvParams } from './types.js';
import { IvError, putLe32 } from './types.js';

const ELEPHANT_MAX_KEY_SIZE = 32;
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function rol(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function diffuserADecrypt(d: Uint32Array, n: number): void {
  for (let i = 0; i < 5; i++) {
    let i1 = 0;
    let i2 = n - 2;
    let i3 = n - 5;
    while (i1 < n - 1) {
      d[i1] = d[i1]! + (d[i2]! ^ rol(d[i3]!, 9));
      i1++; i2++; i3++;
      if (i3 >= n) i3 -= n;
      d[i1] = d[i1]! + (d[i2]! ^ d[i3]!);
      i1++; i2++; i3++;
      if (i2 >= n) i2 -= n;
      d[i1] = d[i1]! + (d[i2]! ^ rol(d[i3]!, 13));
      i1++; i2++; i3++;
      d[i1] = d[i1]! + (d[i2]! ^ d[i3]!);
      i1++; i2++; i3++;
    }
  }
}

function diffuserAEncrypt(d: Uint32Array, n: number): void {
  for (let i = 0; i < 5; i++) {
    let i1 = n - 1;
    let i2 = n - 2 - 1;
    let i3 = n - 5 - 1;
    while (i1 > 0) {
      d[i1] = d[i1]! - (d[i2]! ^ d[i3]!);
      i1--; i2--; i3--;
      d[i1] = d[i1]! - (d[i2]! ^ rol(d[i3]!, 13));
      i1--; i2--; i3--;
      if (i2 < 0) i2 += n;
      d[i1] = d[i1]! - (d[i2]! ^ d[i3]!);
      i1--; i2--; i3--;
      if (i3 < 0) i3 += n;
      d[i1] = d[i1]! - (d[i2]! ^ rol(d[i3]!, 9));
      i1--; i2--; i3--;
    }
  }
}

function diffuserBDecrypt(d: Uint32Array, n: number): void {
  for (let i = 0; i < 3; i++) {
    let i1 = 0;
    let i2 = 2;
    let i3 = 5;
    while (i1 < n - 1) {
      d[i1] = d[i1]! + (d[i2]! ^ d[i3]!);
      i1++; i2++; i3++;
      d[i1] = d[i1]! + (d[i2]! ^ rol(d[i3]!, 10));
      i1++; i2++; i3++;
      if (i2 >= n) i2 -= n;
      d[i1] = d[i1]! + (d[i2]! ^ d[i3]!);
      i1++; i2++; i3++;
      if (i3 >= n) i3 -= n;
      d[i1] = d[i1]! + (d[i2]! ^ rol(d[i3]!, 25));
      i1++; i2++; i3++;
    }
  }
}

function diffuserBEncrypt(d: Uint32Array, n: number): void {
  for (let i = 0; i < 3; i++) {
    let i1 = n - 1;
    let i2 = 2 - 1;
    let i3 = 5 - 1;
    while (i1 > 0) {
      d[i1] = d[i1]! - (d[i2]! ^ rol(d[i3]!, 25));
      i1--; i2--; i3--;
      if (i3 < 0) i3 += n;
      d[i1] = d[i1]! - (d[i2]! ^ d[i3]!);
      i1--; i2--; i3--;
      if (i2 < 0) i2 += n;
      d[i1] = d[i1]! - (d[i2]! ^ rol(d[i3]!, 10));
      i1--; i2--; i3--;
      d[i1] = d[i1]! - (d[i2]! ^ d[i3]!);
      i1--; i2--; i3--;
    }
  }
}

/** Diffuser words from/to bytes (the kernel's diffuser_disk_to_cpu / cpu_to_disk). */
function loadWords(words: Uint32Array, data: Uint8Array, off: number, n: number): void {
  if (LITTLE_ENDIAN) {
    new Uint8Array(words.buffer, words.byteOffset, n * 4).set(data.subarray(off, off + n * 4));
    return;
  }
  for (let i = 0, o = off; i < n; i++, o += 4) words[i] = (data[o]! | (data[o + 1]! << 8) | (data[o + 2]! << 16) | (data[o + 3]! << 24)) >>> 0;
}

function storeWords(words: Uint32Array, data: Uint8Array, off: number, n: number): void {
  if (LITTLE_ENDIAN) {
    data.set(new Uint8Array(words.buffer, words.byteOffset, n * 4), off);
    return;
  }
  for (let i = 0, o = off; i < n; i++, o += 4) putLe32(data, o, words[i]!);
}

class ElephantGenerator implements IvGenerator {
  private readonly eboiv: EboivGenerator;
  private aes: BlockCipher | undefined;
  private readonly words: Uint32Array;
  private ks = new Uint8Array(0);
  private readonly shift: number;

  constructor(
    private readonly p: IvParams,
    private readonly aesAlgo: NonNullable<ReturnType<typeof getBlockCipher>>,
  ) {
    this.eboiv = new EboivGenerator(p);
    this.words = new Uint32Array(p.sectorSize / 4);
    this.shift = 31 - Math.clz32(p.sectorSize);
  }

  init(key: Uint8Array): void {
    // crypt_iv_elephant_init: ecb(aes) keyed with the extra (second) half of the key.
    const extra = key.subarray(this.p.keySize - this.p.keyExtraSize);
    if (!this.aesAlgo.keySizes.includes(extra.length)) throw new IvError('Error initialising IV');
    this.aes?.wipe();
    this.aes = this.aesAlgo.create(extra);
  }

  wipe(): void {
    // The kernel re-keys ecb(aes) with zeros; dropping the expanded key is the same here.
    this.aes?.wipe();
    this.aes = undefined;
    this.ks.fill(0);
  }

  /** Sector keys for n sectors into this.ks (32 bytes each), one batched ECB call. */
  private sectorKeys(sectors: Uint32Array, n: number): Uint8Array {
    if (this.ks.length < n * 32) this.ks = new Uint8Array(Math.max(n * 32, this.ks.length * 2));
    const ks = this.ks.subarray(0, n * 32);
    ks.fill(0);
    const s = this.shift;
    for (let i = 0, off = 0; i < n; i++, off += 32) {
      const lo = sectors[2 * i]!;
      const hi = sectors[2 * i + 1]!;
      const l = s === 0 ? lo : (lo << s) >>> 0;
      const h = s === 0 ? hi : ((hi << s) | (lo >>> (32 - s))) >>> 0;
      putLe32(ks, off, l);
      putLe32(ks, off + 4, h);
      putLe32(ks, off + 16, l);
      putLe32(ks, off + 20, h);
      ks[off + 31] = 0x80;
    }
    if (!this.aes) throw new IvError('elephant: the sector key is not set');
    this.aes.encryptBlocks(ks, ks);
    return ks;
  }

  /** crypt_iv_elephant: the diffuser half of the transform, in place on n sectors. */
  private transform(dir: Direction, data: Uint8Array, sectors: Uint32Array, n: number): void {
    const ss = this.p.sectorSize;
    const nw = ss / 4;
    const ks = this.sectorKeys(sectors, n);
    const words = this.words;
    for (let i = 0; i < n; i++) {
      const off = i * ss;
      const k = i * 32;
      if (dir === 'decrypt') {
        loadWords(words, data, off, nw);
        diffuserBDecrypt(words, nw);
        diffuserADecrypt(words, nw);
        storeWords(words, data, off, nw);
      }
      for (let j = 0; j < ss; j += 32) for (let b = 0; b < 32; b++) data[off + j + b]! ^= ks[k + b]!;
      if (dir === 'encrypt') {
        loadWords(words, data, off, nw);
        diffuserAEncrypt(words, nw);
        diffuserBEncrypt(words, nw);
        storeWords(words, data, off, nw);
      }
    }
    ks.fill(0);
    words.fill(0);
  }

  generate(dir: Direction, ivs: Uint8Array, data: Uint8Array, sectors: Uint32Array, n: number): void {
    if (dir === 'encrypt') this.transform(dir, data, sectors, n);
    this.eboiv.generate(ivs, sectors, n);
  }

  post(dir: Direction, _ivs: Uint8Array, data: Uint8Array, sectors: Uint32Array, n: number): void {
    if (dir === 'decrypt') this.transform(dir, data, sectors, n);
  }
}

export const elephantIv: IvMode = {
  name: 'elephant',
  layout(l, keySize) {
    l.keyParts = 2;
    l.keyExtraSize = Math.floor(keySize / 2);
    if (l.keyExtraSize > ELEPHANT_MAX_KEY_SIZE) return false;
    l.preprocess = true;
    return true;
  },
  create(p: IvParams): IvGenerator {
    const aes = getBlockCipher('aes');
    if (!aes) throw new IvError('Error creating IV', 'ENOENT');
    eboivCheck(p);
    return new ElephantGenerator(p, aes);
  },
};
