// Keyslot area encryption (cryptsetup lib/utils_storage_wrappers.c): the split key is encrypted
// with the keyslot's cipher spec and the derived key, as 512-byte sectors with IVs counted from
// sector 0 of the area. The same cipher spec and IV generators as the crypt target, so any spec
// the target accepts works here; we build the target's crypto engine over no device.
//
// Unlocking converts one area (a few hundred sectors) once, so for the spec nearly every volume
// uses (aes-xts-plain64, LUKS1's and LUKS2's default) node:crypto does it directly: the crypt
// target and its cipher registry are loaded only for the other specs (a fresh `cryptsetup open`
// saves their module loading).

import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { DeviceRef } from '../dm/target.js';
import type { CryptTarget } from '../targets/crypt/crypt.js';
import { LuksError } from './errors.js';

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}

/** A crypt engine for `spec` keyed with `key`; callers convert sectors and then close it. */
export async function sectorCipher(spec: string, key: Uint8Array, sectorSize = 512): Promise<CryptTarget> {
  const [{ registerBuiltinCrypto }, { cryptTarget }] = await Promise.all([import('../crypto/index.js'), import('../targets/crypt/crypt.js')]);
  registerBuiltinCrypto();
  const nodev: DeviceRef = {
    devName: '0:0',
    kname: 'none',
    dev: {
      size: 2 ** 52,
      limits: { logicalBlockSize: 512, physicalBlockSize: 512, maxTransfer: 1 << 20, discard: false },
      read: () => Promise.reject(new Error('no device')),
      write: () => Promise.reject(new Error('no device')),
      flush: () => Promise.resolve(),
      discard: () => Promise.resolve(),
      writeZeroes: () => Promise.resolve(),
    } as unknown as DeviceRef['dev'],
  };
  const args = [spec, hex(key), '0', 'none', '0'];
  if (sectorSize !== 512) args.push('1', `sector_size:${sectorSize}`);
  try {
    return (await cryptTarget.create(args, { begin: 0, len: 2 ** 40, readOnly: false, getDevice: () => Promise.resolve(nodev) })) as CryptTarget;
  } catch (e) {
    throw new LuksError('ERR_LUKS_UNSUPPORTED', `Cipher ${spec} (key size ${key.length * 8} bits) is not available: ${(e as Error).message}.`);
  }
}

/** Encrypts or decrypts keyslot material in place (whole 512-byte sectors from sector 0). */
export async function cryptArea(dir: 'encrypt' | 'decrypt', spec: string, key: Uint8Array, data: Uint8Array): Promise<void> {
  if (spec === 'aes-xts-plain64' && (key.length === 32 || key.length === 64) && xtsArea(dir, key, data)) return;
  const t = await sectorCipher(spec, key);
  try {
    t.engine.convert(dir, data, 0);
  } finally {
    t.close();
  }
}

/**
 * aes-xts-plain64 over 512-byte sectors with node:crypto (IV = the sector number, little-endian,
 * zero-padded to 16 bytes). False when OpenSSL refuses the key (identical halves, which the
 * kernel's XTS accepts); the crypt target's engine then does it.
 */
function xtsArea(dir: 'encrypt' | 'decrypt', key: Uint8Array, data: Uint8Array): boolean {
  if (data.length % 512 !== 0) return false;
  const alg = key.length === 32 ? 'aes-128-xts' : 'aes-256-xts';
  const iv = Buffer.alloc(16);
  for (let off = 0, sector = 0; off < data.length; off += 512, sector++) {
    iv.writeUInt32LE(sector, 0);
    let out: Buffer;
    try {
      const c = dir === 'encrypt' ? createCipheriv(alg, key, iv) : createDecipheriv(alg, key, iv);
      out = c.update(data.subarray(off, off + 512));
      c.final();
    } catch (e) {
      // Only the key can be refused, and it is refused for sector 0, before anything changed.
      if (off === 0) return false;
      throw e;
    }
    data.set(out, off);
    out.fill(0);
  }
  return true;
}
