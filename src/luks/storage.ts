// Keyslot area encryption (cryptsetup lib/utils_storage_wrappers.c): the split key is encrypted
// with the keyslot's cipher spec and the derived key, as 512-byte sectors with IVs counted from
// sector 0 of the area. The same cipher spec and IV generators as the crypt target, so any spec
// the target accepts works here; we build the target's crypto engine over no device.

import { registerBuiltinCrypto } from '../crypto/index.js';
import type { DeviceRef } from '../dm/target.js';
import type { CryptTarget } from '../targets/crypt/crypt.js';
import { cryptTarget } from '../targets/crypt/crypt.js';
import { LuksError } from './errors.js';

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}

/** A crypt engine for `spec` keyed with `key`; callers convert sectors and then close it. */
export async function sectorCipher(spec: string, key: Uint8Array, sectorSize = 512): Promise<CryptTarget> {
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
  const t = await sectorCipher(spec, key);
  try {
    t.engine.convert(dir, data, 0);
  } finally {
    t.close();
  }
}
