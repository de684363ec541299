// Independent reference implementations for the crypt target's tests, on node:crypto (OpenSSL):
// sector-at-a-time skciphers (one createCipheriv per sector, the slow obvious way) and IVs
// computed with BigInt straight from the kernel's definitions. They never go through the crypto
// registry, so they check ucrypt's batching, key selection and IV generators without trusting
// the implementations under test.

import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import type { Skcipher, SkcipherAlgorithm } from '../../../src/crypto/types.js';

type Mode = 'ecb' | 'cbc' | 'xts';

/** OpenSSL's name for AES in a mode with a given key length. */
function opensslName(mode: Mode, keyLen: number): string {
  const bits = (mode === 'xts' ? keyLen / 2 : keyLen) * 8;
  return `aes-${bits}-${mode}`;
}

/** An AES skcipher doing one OpenSSL call per sector. */
export function nodeAes(mode: Mode): SkcipherAlgorithm {
  const ivSize = mode === 'ecb' ? 0 : 16;
  return {
    name: `${mode}(aes)`,
    ivSize,
    blockSize: 16,
    keySizes: mode === 'xts' ? [32, 64] : [16, 24, 32],
    create(key: Uint8Array): Skcipher {
      const k = Buffer.from(key);
      const run = (enc: boolean, data: Uint8Array, ss: number, ivs: Uint8Array): void => {
        for (let off = 0, i = 0; off < data.length; off += ss, i++) {
          const iv = ivSize ? ivs.subarray(i * ivSize, (i + 1) * ivSize) : null;
          const c = enc ? createCipheriv(opensslName(mode, k.length), k, iv) : createDecipheriv(opensslName(mode, k.length), k, iv);
          c.setAutoPadding(false);
          const out = Buffer.concat([c.update(data.subarray(off, off + ss)), c.final()]);
          data.set(out, off);
        }
      };
      return {
        ivSize,
        blockSize: 16,
        encrypt: (d, ss, ivs) => run(true, d, ss, ivs),
        decrypt: (d, ss, ivs) => run(false, d, ss, ivs),
        wipe: () => k.fill(0),
      };
    },
  };
}

const U64 = (1n << 64n) - 1n;

function le(v: bigint, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n && i < 8; i++) b[i] = Number((v >> BigInt(8 * i)) & 0xffn);
  return b;
}

/** The IV of one sector for the simple generators, from the kernel's comments. */
export function referenceIv(mode: string, ivSector: bigint, ivSize = 16, opts: { key?: Buffer; hash?: string; sectorSize?: number } = {}): Buffer {
  const s = ivSector & U64;
  switch (mode) {
    case 'plain':
      return le(s & 0xffffffffn, ivSize);
    case 'plain64':
      return le(s, ivSize);
    case 'plain64be': {
      const b = Buffer.alloc(ivSize);
      b.writeBigUInt64BE(s, ivSize - 8);
      return b;
    }
    case 'null':
      return Buffer.alloc(ivSize);
    case 'benbi': {
      const b = Buffer.alloc(ivSize);
      b.writeBigUInt64BE(((s << 5n) + 1n) & U64, ivSize - 8);
      return b;
    }
    case 'essiv': {
      const salt = createHash(opts.hash ?? 'sha256').update(opts.key!).digest();
      const c = createCipheriv(`aes-${salt.length * 8}-ecb`, salt, null);
      c.setAutoPadding(false);
      return Buffer.concat([c.update(le(s, ivSize)), c.final()]);
    }
    case 'eboiv': {
      const key = opts.key!;
      const c = createCipheriv(`aes-${key.length * 8}-ecb`, key, null);
      c.setAutoPadding(false);
      return Buffer.concat([c.update(le((s * BigInt(opts.sectorSize ?? 512)) & U64, 16)), c.final()]);
    }
    default:
      throw new Error(`no reference IV for ${mode}`);
  }
}

/**
 * Reference encryption of a whole mapped area for `aes-<mode>-<iv>` with one key: each
 * sector_size unit separately, with the kernel's sector numbering (512-byte units from the
 * target start plus iv_offset, optionally counted in sector_size units).
 */
export function referenceEncrypt(
  mode: Mode,
  iv: string,
  key: Buffer,
  plain: Uint8Array,
  o: { ivOffset?: bigint; sectorSize?: number; ivLarge?: boolean; hash?: string } = {},
): Buffer {
  const ss = o.sectorSize ?? 512;
  const out = Buffer.alloc(plain.length);
  for (let off = 0; off < plain.length; off += ss) {
    let sector = (BigInt(off / 512) + (o.ivOffset ?? 0n)) & U64;
    if (o.ivLarge) sector >>= BigInt(Math.log2(ss / 512));
    const ivb = mode === 'ecb' ? null : referenceIv(iv, sector, 16, { key, sectorSize: ss, ...(o.hash ? { hash: o.hash } : {}) });
    const c = createCipheriv(opensslName(mode, key.length), key, ivb);
    c.setAutoPadding(false);
    out.set(Buffer.concat([c.update(plain.subarray(off, off + ss)), c.final()]), off);
  }
  return out;
}
