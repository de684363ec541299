// luksFormat (cryptsetup's crypt_format for LUKS1/LUKS2): a random volume key, a header with the
// segment and its digest, the metadata and keyslot areas wiped, then the first keyslot.

import { LuksError } from './errors.js';
import type { HeaderIO } from './io.js';
import { luks1Layout, luks1NewHeader, serializeLuks1 } from './luks1/luks1.js';
import type { Luks1Header } from './luks1/luks1.js';
import type { Luks2Header, Luks2KdfOptions } from './luks2/luks2.js';
import { luks2NewHeader, writeLuks2 } from './luks2/luks2.js';
import { pbkdf2IterationsFor } from './pbkdf.js';
import { sectorCipher } from './storage.js';
import { randomBytes } from './util.js';
import { addKey } from './volume.js';

export interface FormatOptions {
  version: 1 | 2;
  /** dm-crypt cipher spec: `aes-xts-plain64`, `aes-cbc-essiv:sha256`, ... */
  cipher: string;
  /** Volume key bytes. */
  keySize: number;
  hash: string;
  kdf: Luks2KdfOptions;
  sectorSize: number;
  label?: string | undefined;
  subsystem?: string | undefined;
  uuid?: string | undefined;
  /** The header lives on its own device: the data starts at offset 0 of the data device. */
  detached?: boolean | undefined;
  keySlot?: number | undefined;
  /** A given volume key (tests); random otherwise. */
  volumeKey?: Uint8Array | undefined;
  /** Iterations of the volume key digest (default: 125 ms worth, at least 1000). */
  digestIterations?: number | undefined;
}

const WIPE_CHUNK = 1 << 20;

async function wipe(io: HeaderIO, from: number, to: number): Promise<void> {
  const zero = new Uint8Array(Math.min(WIPE_CHUNK, to - from));
  for (let off = from; off < to; off += zero.length) await io.write(off, off + zero.length <= to ? zero : zero.subarray(0, to - off));
}

/** Formats `io` and returns the header and the volume key (the caller wipes it). */
export async function formatVolume(io: HeaderIO, passphrase: Uint8Array, o: FormatOptions): Promise<{ header: Luks1Header | Luks2Header; volumeKey: Uint8Array }> {
  const key = o.volumeKey ?? randomBytes(o.keySize);
  if (key.length !== o.keySize) throw new LuksError('ERR_LUKS_ARGUMENT', 'Volume key size does not match the key size.');
  // The cipher must exist with this key size before anything is written.
  (await sectorCipher(o.cipher, key, o.sectorSize)).close();
  const digestIterations = o.digestIterations ?? pbkdf2IterationsFor(o.hash, 32, 125);
  const slot = o.keySlot ?? 0;
  if (o.version === 1) {
    const dash = o.cipher.indexOf('-');
    if (dash <= 0) throw new LuksError('ERR_LUKS_ARGUMENT', `Invalid cipher specification ${o.cipher} for LUKS1 (cipher-mode expected).`);
    if (o.sectorSize !== 512) throw new LuksError('ERR_LUKS_ARGUMENT', 'Unsupported encryption sector size.');
    const h = await luks1NewHeader(key, { cipherName: o.cipher.slice(0, dash), cipherMode: o.cipher.slice(dash + 1), hash: o.hash, keyBytes: o.keySize, payloadOffset: o.detached ? 0 : undefined, uuid: o.uuid, mkDigestIterations: digestIterations });
    const end = h.payloadOffset === 0 ? luks1Layout(o.keySize).end : h.payloadOffset;
    const size = await io.size();
    if (!o.detached && size < end * 512 + 512) throw new LuksError('ERR_LUKS_ARGUMENT', `Device is too small (${size} bytes; the header needs ${end * 512} bytes and some data).`, 1);
    await wipe(io, 0, end * 512);
    await io.write(0, serializeLuks1(h));
    await io.sync();
    if (slot >= 8) throw new LuksError('ERR_LUKS_SLOT', `Key slot ${slot} is invalid.`);
    await addKey(io, h, slot, key, passphrase, { kdf: { ...o.kdf, type: 'pbkdf2', hash: o.hash } });
    return { header: h, volumeKey: key };
  }
  const h = await luks2NewHeader(key, { cipher: o.cipher, keySize: o.keySize, hash: o.hash, sectorSize: o.sectorSize, dataOffset: o.detached ? 0 : undefined, label: o.label, subsystem: o.subsystem, uuid: o.uuid, digestIterations });
  const metaEnd = 2 * h.bin.hdrSize + Number((h.json['config'] as Record<string, string>)['keyslots_size']);
  const size = await io.size();
  if (!o.detached && size < metaEnd + o.sectorSize) throw new LuksError('ERR_LUKS_ARGUMENT', `Device is too small (${size} bytes; the LUKS2 metadata and keyslots need ${metaEnd} bytes and some data).`, 1);
  await wipe(io, 0, metaEnd);
  await writeLuks2(io, h);
  if (slot >= 32) throw new LuksError('ERR_LUKS_SLOT', `Key slot ${slot} is invalid.`);
  await addKey(io, h, slot, key, passphrase, { kdf: o.kdf });
  return { header: h, volumeKey: key };
}
