// The crypto half of a crypt target (the kernel's struct crypt_config with crypt_setkey,
// crypt_set_key, crypt_wipe_key and crypt_convert): keys, the bulk cipher instances (one per
// key of a keycount, cc->tfms), the IV generator, and convert(), which encrypts or decrypts whole
// requests in place.
//
// convert() is synchronous and touches nothing but its arguments and this object's scratch
// buffers, so a worker pool can run it as is (give each worker its own engine).
//
//   data:    | sector 0 | sector 1 | ... | sector n-1 |        (n * sectorSize bytes)
//   sectors: | lo0 hi0 | lo1 hi1 | ...                           IV sector numbers (u64 halves)
//   keyIdx:  | k0 | k1 | ...                                     cc_sector & (keycount - 1)
//   ivs:     | iv0 | iv1 | ...                                   (n * ivSize bytes)
//
//   generate IVs (one pass) -> skcipher once per run of equal key index -> post-process

import { randomFillSync } from 'node:crypto';
import type { Skcipher } from '../../crypto/types.js';
import type { Direction, IvGenerator } from '../../crypto/ivgen/index.js';
import type { BulkAlgorithm } from './cipher.js';
import type { CryptErrno } from './errors.js';
import { hex2bin, kIsSpace } from './scan.js';

export interface EngineConfig {
  readonly algo: BulkAlgorithm;
  readonly tfmsCount: number;
  readonly keySize: number;
  readonly keyParts: number;
  readonly keyExtraSize: number;
  readonly keyMacSize: number;
  /** cc->iv_size: max(cipher IV size, 8), or 0 for ciphers without IVs. */
  readonly ivSize: number;
  readonly sectorSize: number;
  readonly ivLargeSectors: boolean;
  /** iv_offset, a u64. */
  readonly ivOffset: bigint;
}

const TWO32 = 2 ** 32;

export class CryptEngine {
  readonly cfg: EngineConfig;
  /** cc->key: the whole key as decoded from hex (zeroed on wipe and close). */
  readonly key: Uint8Array;
  /** DM_CRYPT_KEY_VALID: resume is refused while false. */
  keyValid = false;
  ivgen: IvGenerator | undefined;
  /** Kernel log lines (DMERR) from key handling; the target points it at the registry's log. */
  log: (line: string) => void = () => undefined;
  private readonly tfms: (Skcipher | undefined)[];
  private readonly subkeySize: number;
  private readonly step: number;
  private readonly shift: number;
  private readonly keyMask: number;
  private readonly ivOffLo: number;
  private readonly ivOffHi: number;
  private cap = 0;
  private sectors = new Uint32Array(0);
  private keyIdx = new Uint32Array(0);
  private ivs = new Uint8Array(0);
  private compact = new Uint8Array(0);

  constructor(cfg: EngineConfig) {
    this.cfg = cfg;
    this.key = new Uint8Array(cfg.keySize);
    this.tfms = new Array<Skcipher | undefined>(cfg.tfmsCount).fill(undefined);
    // crypt_subkey_size: unsigned arithmetic, so a too-short key gives a huge (invalid) size.
    this.subkeySize = ((cfg.keySize - cfg.keyExtraSize) >>> 0) >>> (31 - Math.clz32(cfg.tfmsCount));
    this.step = cfg.sectorSize / 512;
    this.shift = cfg.ivLargeSectors ? 31 - Math.clz32(this.step) : 0;
    this.keyMask = cfg.tfmsCount - 1;
    this.ivOffLo = Number(cfg.ivOffset & 0xffffffffn);
    this.ivOffHi = Number(cfg.ivOffset >> 32n);
  }

  /** any_tfm(cc): the instance of key index 0, as eboiv and elephant use it. */
  bulk(): Skcipher {
    const t = this.tfms[0];
    if (!t) throw new Error('crypt: the cipher key is not set');
    return t;
  }

  /** crypt_setkey: keys every instance with its subkey; false if any key was refused. */
  private setkey(): boolean {
    const sub = this.subkeySize;
    let ok = true;
    for (let i = 0; i < this.cfg.tfmsCount; i++) {
      const off = i * sub;
      const next = off + sub <= this.key.length ? this.cfg.algo.create(this.key.subarray(off, off + sub)) : undefined;
      if (!next) {
        ok = false;
        continue;
      }
      this.tfms[i]?.wipe();
      this.tfms[i] = next;
    }
    return ok;
  }

  /**
   * crypt_set_key: `-` for no key, hex (either case), or `:<type>:<desc>` for the kernel
   * keyring (which ucrypt does not have: request_key fails with -ENOKEY). Returns an errno on
   * failure; the caller reports it as "Error decoding and setting key".
   */
  setKey(key: string): CryptErrno | undefined {
    // A hyphen (key size zero) means there is no key.
    if (this.cfg.keySize === 0 && key !== '-') return 'EINVAL';
    if (key.startsWith(':')) return keyringKey(key.slice(1), this.log);
    this.keyValid = false;
    if (this.cfg.keySize > 0 && !hex2bin(this.key, key, this.cfg.keySize)) return 'EINVAL';
    if (!this.setkey()) return 'EINVAL';
    this.keyValid = true;
    return undefined;
  }

  /**
   * setKey for a key already decoded into bytes (a worker's copy of the target's key, sent once
   * over a MessagePort): copies it into cc->key and keys every instance. Returns false if the
   * cipher refused it. The caller wipes its copy.
   */
  setKeyBytes(key: Uint8Array): boolean {
    this.keyValid = false;
    if (key.length !== this.cfg.keySize) return false;
    this.key.set(key);
    if (!this.setkey()) return false;
    this.keyValid = true;
    return true;
  }

  /** crypt_wipe_key: the instances get a random key, IV secrets are dropped, cc->key zeroed. */
  wipeKey(): void {
    this.keyValid = false;
    randomFillSync(this.key);
    this.ivgen?.wipe?.();
    this.setkey();
    this.key.fill(0);
  }

  /** Buffers that hold key material (tests check they are zero after close). */
  secrets(): Uint8Array[] {
    return [this.key, ...(this.ivgen?.secrets?.() ?? [])];
  }

  /** Wipes everything (crypt_dtr's kfree_sensitive). */
  close(): void {
    this.keyValid = false;
    this.key.fill(0);
    this.ivgen?.wipe?.();
    for (let i = 0; i < this.tfms.length; i++) {
      this.tfms[i]?.wipe();
      this.tfms[i] = undefined;
    }
    this.ivs.fill(0);
    this.compact.fill(0);
  }

  private ensure(n: number): void {
    if (n <= this.cap) return;
    let cap = Math.max(this.cap, 8);
    while (cap < n) cap *= 2;
    this.cap = cap;
    this.sectors = new Uint32Array(2 * cap);
    this.keyIdx = new Uint32Array(cap);
    this.ivs = new Uint8Array(cap * this.cfg.ivSize);
    if (this.cfg.algo.ivSize !== this.cfg.ivSize) this.compact = new Uint8Array(cap * this.cfg.algo.ivSize);
  }

  /**
   * Encrypts or decrypts `data` in place: whole sectors of sectorSize bytes, the first at
   * `firstSector` (512-byte units from the start of the target).
   */
  convert(dir: Direction, data: Uint8Array, firstSector: number): void {
    const { sectorSize: ss, ivSize } = this.cfg;
    const n = data.length / ss;
    if (!Number.isInteger(n)) throw new RangeError(`crypt: ${data.length} bytes are not whole ${ss}-byte sectors`);
    if (n === 0) return;
    this.ensure(n);
    const sectors = this.sectors;
    const keyIdx = this.keyIdx;
    // cc_sector = sector + iv_offset (u64), stepping by sector_size / 512.
    let lo = (firstSector % TWO32) + this.ivOffLo;
    let hi = Math.floor(firstSector / TWO32) + this.ivOffHi;
    if (lo >= TWO32) {
      lo -= TWO32;
      hi++;
    }
    hi %= TWO32;
    const s = this.shift;
    for (let i = 0; i < n; i++) {
      keyIdx[i] = lo & this.keyMask;
      if (s === 0) {
        sectors[2 * i] = lo;
        sectors[2 * i + 1] = hi;
      } else {
        // iv_large_sectors: the IV counts sector_size units.
        sectors[2 * i] = ((lo >>> s) | (hi << (32 - s))) >>> 0;
        sectors[2 * i + 1] = hi >>> s;
      }
      lo += this.step;
      if (lo >= TWO32) {
        lo -= TWO32;
        hi = (hi + 1) % TWO32;
      }
    }
    const ivs = this.ivs.subarray(0, n * ivSize);
    const gen = this.ivgen;
    if (gen) gen.generate(dir, ivs, data, sectors, n);
    else ivs.fill(0);
    if (this.cfg.tfmsCount === 1) {
      this.crypt(0, dir, data, ivs, 0, n);
    } else {
      let start = 0;
      for (let i = 1; i <= n; i++) {
        if (i === n || keyIdx[i] !== keyIdx[start]) {
          this.crypt(keyIdx[start]!, dir, data, ivs, start, i);
          start = i;
        }
      }
    }
    if (gen?.post) gen.post(dir, ivs, data, sectors, n);
  }

  /** One skcipher call over sectors [from, to) with key index k. */
  private crypt(k: number, dir: Direction, data: Uint8Array, ivs: Uint8Array, from: number, to: number): void {
    const tfm = this.tfms[k];
    if (!tfm) throw new Error('crypt: the cipher key is not set');
    const { sectorSize: ss, ivSize } = this.cfg;
    const part = data.subarray(from * ss, to * ss);
    const algoIv = this.cfg.algo.ivSize;
    let iv = ivs.subarray(from * ivSize, to * ivSize);
    if (algoIv !== ivSize) {
      // The cipher's IV is shorter than the 8 bytes dm-crypt reserves: pass its leading bytes.
      const c = this.compact.subarray(0, (to - from) * algoIv);
      for (let i = 0; i < to - from; i++) c.set(iv.subarray(i * ivSize, i * ivSize + algoIv), i * algoIv);
      iv = c;
    }
    if (dir === 'encrypt') tfm.encrypt(part, ss, iv);
    else tfm.decrypt(part, ss, iv);
  }
}

/**
 * crypt_set_keyring_key for `<type>:<description>`: the syntax and the key type are checked as
 * the kernel does; a well-formed reference then fails like a missing key (request_key: -ENOKEY).
 */
function keyringKey(keyString: string, log: (line: string) => void): CryptErrno {
  // dm core cannot escape whitespace in status output, so such key strings are refused.
  for (let i = 0; i < keyString.length; i++) {
    if (kIsSpace(keyString.charCodeAt(i))) {
      log('device-mapper: crypt: whitespace chars not allowed in key string');
      return 'EINVAL';
    }
  }
  const colon = keyString.indexOf(':');
  if (colon <= 0 || colon === keyString.length - 1) return 'EINVAL';
  const type = keyString.slice(0, colon + 1);
  if (type !== 'logon:' && type !== 'user:' && type !== 'encrypted:' && type !== 'trusted:') return 'EINVAL';
  return 'ENOKEY';
}
