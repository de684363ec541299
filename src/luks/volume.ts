// One face for LUKS1 and LUKS2 volumes: detect the version, unlock, manage keyslots, dump, and
// build the crypt table that activates the volume (what cryptsetup's LUKS_activate /
// LUKS2_activate hand to device-mapper). Pure: all storage goes through HeaderIO.

import { LuksError } from './errors.js';
import type { HeaderIO } from './io.js';
import type { Luks1Header } from './luks1/luks1.js';
import { LUKS1_NUMKEYS, hasLuksMagic, luks1CipherSpec, luks1Dump, luks1KillSlot, luks1SetKey, luks1Unlock, luks1VerifyKey, parseLuks1, LUKS1_HDR_SIZE } from './luks1/luks1.js';
import type { Luks2Header, Luks2KdfOptions } from './luks2/luks2.js';
import { LUKS2_FLAGS, LUKS2_KEYSLOTS_MAX, checkRequirements, configInfo, keyslotIds, luks2AddKeyslot, luks2Dump, luks2KillSlot, luks2Unlock, luks2VerifyKey, readLuks2, segmentIds, segmentInfo, writeLuks2 } from './luks2/luks2.js';

export type LuksHeader = Luks1Header | Luks2Header;

/** LUKS version from the first bytes, or undefined if there is no LUKS magic. */
export async function probeLuks(io: HeaderIO): Promise<1 | 2 | undefined> {
  const b = await io.read(0, 8);
  if (hasLuksMagic(b)) {
    const v = (b[6]! << 8) | b[7]!;
    return v === 1 || v === 2 ? v : undefined;
  }
  return undefined;
}

/** Reads the header (LUKS2: whichever valid copy is newer; the primary may be damaged). */
export async function readHeader(io: HeaderIO): Promise<LuksHeader> {
  const b = await io.read(0, LUKS1_HDR_SIZE);
  if (hasLuksMagic(b) && b[6] === 0 && b[7] === 1) return parseLuks1(b);
  // LUKS2, or a damaged primary: readLuks2 also searches for the secondary header.
  try {
    return await readLuks2(io);
  } catch (e) {
    if (!hasLuksMagic(b)) throw new LuksError('ERR_LUKS_BAD_MAGIC', 'Device is not a valid LUKS device.');
    throw e;
  }
}

export interface SegmentView {
  cipher: string;
  keySize: number;
  /** Data offset in bytes. */
  offset: number;
  /** Bytes, or undefined for "to the end of the device". */
  size: number | undefined;
  sectorSize: number;
  ivTweak: bigint;
  /** Persistent activation flags (LUKS2 config.flags), as crypt table feature arguments. */
  flags: string[];
}

export function segmentView(h: LuksHeader): SegmentView {
  if (h.version === 1) return { cipher: luks1CipherSpec(h), keySize: h.keyBytes, offset: h.payloadOffset * 512, size: undefined, sectorSize: 512, ivTweak: 0n, flags: [] };
  const ids = segmentIds(h.json);
  if (ids.length !== 1) throw new LuksError('ERR_LUKS_UNSUPPORTED', `LUKS2 volumes with ${ids.length} segments are not supported.`);
  const s = segmentInfo(h.json, ids[0]!);
  if (s.type !== 'crypt') throw new LuksError('ERR_LUKS_UNSUPPORTED', `LUKS2 segment type ${s.type} is not supported.`);
  const flags = configInfo(h.json).flags.map((f) => LUKS2_FLAGS[f]).filter((f): f is string => f !== undefined);
  // The volume key size: the digest's keyslots tell it; without keyslots use the segment cipher's.
  const ks = keyslotIds(h.json);
  const keySize = ks.length > 0 ? Number(((h.json['keyslots'] as Record<string, Record<string, unknown>>)[String(ks[0])]!['key_size'])) : 0;
  return { cipher: s.encryption, keySize, offset: s.offset, size: s.size === 'dynamic' ? undefined : s.size, sectorSize: s.sectorSize, ivTweak: s.ivTweak, flags };
}

export function uuidOf(h: LuksHeader): string {
  return h.version === 1 ? h.uuid : h.bin.uuid;
}

export function activeSlots(h: LuksHeader): number[] {
  if (h.version === 1) return h.slots.flatMap((s, i) => (s.active ? [i] : []));
  return keyslotIds(h.json);
}

export function maxSlots(h: LuksHeader): number {
  return h.version === 1 ? LUKS1_NUMKEYS : LUKS2_KEYSLOTS_MAX;
}

export function firstFreeSlot(h: LuksHeader): number {
  const used = new Set(activeSlots(h));
  for (let i = 0; i < maxSlots(h); i++) if (!used.has(i)) return i;
  throw new LuksError('ERR_LUKS_SLOT', 'All key slots full.');
}

export async function unlock(io: HeaderIO, h: LuksHeader, passphrase: Uint8Array, slot?: number): Promise<{ key: Uint8Array; slot: number }> {
  if (slot !== undefined && (slot < 0 || slot >= maxSlots(h))) throw new LuksError('ERR_LUKS_SLOT', `Key slot ${slot} is invalid.`);
  return h.version === 1 ? luks1Unlock(io, h, passphrase, slot) : luks2Unlock(io, h, passphrase, slot);
}

export async function verifyVolumeKey(h: LuksHeader, key: Uint8Array): Promise<boolean> {
  return h.version === 1 ? luks1VerifyKey(h, key) : luks2VerifyKey(h, key);
}

export interface AddKeyOptions {
  kdf: Luks2KdfOptions;
}

export async function addKey(io: HeaderIO, h: LuksHeader, slot: number, volumeKey: Uint8Array, passphrase: Uint8Array, o: AddKeyOptions): Promise<void> {
  if (h.version === 1) {
    if (o.kdf.type !== 'pbkdf2') throw new LuksError('ERR_LUKS_ARGUMENT', 'Only PBKDF2 is supported in LUKS1.');
    await luks1SetKey(io, h, slot, volumeKey, passphrase, o.kdf.iterations ?? 1000);
    return;
  }
  await luks2AddKeyslot(io, h, slot, volumeKey, passphrase, o.kdf);
}

/**
 * luksChangeKey: LUKS1 writes the new passphrase into the first free slot and then kills the old
 * one; LUKS2 keeps the slot id and moves it to a free area (as cryptsetup does). Either way the
 * old passphrase keeps working until the new one is on disk. Returns the slot that now holds it.
 */
export async function changeKey(io: HeaderIO, h: LuksHeader, slot: number, volumeKey: Uint8Array, passphrase: Uint8Array, o: AddKeyOptions): Promise<number> {
  if (h.version === 2) {
    await luks2AddKeyslot(io, h, slot, volumeKey, passphrase, o.kdf, true);
    return slot;
  }
  const free = activeSlots(h).length < LUKS1_NUMKEYS ? firstFreeSlot(h) : undefined;
  if (free === undefined) throw new LuksError('ERR_LUKS_SLOT', 'All key slots full.');
  await addKey(io, h, free, volumeKey, passphrase, o);
  await killSlot(io, h, slot);
  return free;
}

export async function killSlot(io: HeaderIO, h: LuksHeader, slot: number): Promise<void> {
  if (slot < 0 || slot >= maxSlots(h)) throw new LuksError('ERR_LUKS_SLOT', `Key slot ${slot} is invalid.`);
  if (h.version === 1) await luks1KillSlot(io, h, slot);
  else await luks2KillSlot(io, h, slot);
}

/** Rewrites a LUKS2 header after a metadata change (label, flags); both copies, crash-safe. */
export async function writeHeader(io: HeaderIO, h: Luks2Header): Promise<void> {
  checkRequirements(h, 'change the metadata');
  await writeLuks2(io, h);
}

export function dump(h: LuksHeader, deviceName: string): string {
  return h.version === 1 ? luks1Dump(h, deviceName) : luks2Dump(h);
}

export interface TableOptions {
  /** Data device path as the registry resolves it. */
  device: string;
  /** Data device size in bytes. */
  deviceSize: number;
  /** Extra feature arguments (open --allow-discards, --perf-*). */
  flags?: readonly string[] | undefined;
  /** Ignore the volume's persistent flags. */
  ignorePersistentFlags?: boolean | undefined;
}

/** The crypt table line that activates the volume (dm-crypt's `<cipher> <key> <iv_offset> <dev> <offset> [features]`). */
export function cryptTable(h: LuksHeader, key: Uint8Array, o: TableOptions): { table: string; sectors: number; flags: string[] } {
  if (h.version === 2) checkRequirements(h, 'activate the device');
  const seg = segmentView(h);
  let bytes = seg.size ?? o.deviceSize - seg.offset;
  bytes -= bytes % seg.sectorSize;
  if (bytes <= 0) throw new LuksError('ERR_LUKS_ARGUMENT', 'Device is too small: no space for the data segment.', 4);
  const flags: string[] = [];
  for (const f of [...(o.ignorePersistentFlags ? [] : seg.flags), ...(o.flags ?? [])]) if (!flags.includes(f)) flags.push(f);
  const order = ['allow_discards', 'same_cpu_crypt', 'submit_from_crypt_cpus', 'no_read_workqueue', 'no_write_workqueue', 'high_priority'];
  flags.sort((a, b) => order.indexOf(a) - order.indexOf(b));
  const features = [...flags];
  if (seg.sectorSize !== 512) features.push(`sector_size:${seg.sectorSize}`);
  const hex = Buffer.from(key.buffer, key.byteOffset, key.length).toString('hex');
  const table = `0 ${bytes / 512} crypt ${seg.cipher} ${hex} ${seg.ivTweak} ${o.device} ${seg.offset / 512}${features.length > 0 ? ` ${features.length} ${features.join(' ')}` : ''}`;
  return { table, sectors: bytes / 512, flags };
}
