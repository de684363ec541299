// The crypt target (drivers/md/dm-crypt.c, target version 1.29.0 semantics):
//
//   <cipher> <key> <iv_offset> <device path> <offset> [<#opt_params> <opt_params>]
//
// Construction follows crypt_ctr step by step so that every refusal carries the kernel's
// message and errno, in the kernel's order:
//
//   argc -> key size -> optional params -> cipher (spec, tfms) -> IV mode -> key -> IV ctr ->
//   IV init -> iv_offset -> device -> offset -> integrity
//
// I/O: the pipeline (src/pipeline/crypt-pipeline.ts) runs crypt_map and what follows it: kcryptd
// workers or inline crypto per the no_read_workqueue / no_write_workqueue flags, the sorted
// write queue (dmcrypt_write), flushes that wait for queued writes. Writes encrypt into pooled
// bounce buffers (the caller's buffer is never modified). Discards only with allow_discards.
// The crypto itself is CryptEngine.convert (engine.ts), on the main thread or a worker replica.

import type { BlockDevice, BlockLimits, WriteFlags, WriteZeroesFlags } from '../../block/device.js';
import { SECTOR_SIZE } from '../../block/device.js';
import { getIvMode, IvError } from '../../crypto/ivgen/index.js';
import type { IvKeyLayout } from '../../crypto/ivgen/index.js';
import type { DeviceArea, DeviceRef, StatusOptions, StatusType, Target, TargetContext, TargetType } from '../../dm/target.js';
import { messageError } from '../../dm/target.js';
import type { ErrnoName } from '../../errors.js';
import { UcryptError, errnoOf } from '../../errors.js';
import { parseCipher } from './cipher.js';
import { CryptEngine } from './engine.js';
import { CryptPipeline } from '../../pipeline/crypt-pipeline.js';
import type { EngineSpec } from './replica.js';
import type { CryptErrno } from './errors.js';
import { ctrError } from './errors.js';
import { bin2hex, kStrlen, scanExact, scanUnsigned, strcaseeq } from './scan.js';

/** MAX_TAG_SIZE: the largest integrity tag dm-crypt accepts. */
const MAX_TAG_SIZE = 480;
/** Feature arguments crypt_ctr_optional accepts at most. */
const MAX_FEATURE_ARGS = 9;
/** kzalloc's limit for struct crypt_config plus the key (KMALLOC_MAX_SIZE less the struct). */
const MAX_KEY_SIZE = (4 << 20) - 4096;

/** The feature arguments (crypt_ctr_optional), kept for status and for the I/O pipeline. */
export interface CryptOptions {
  readonly allowDiscards: boolean;
  readonly sameCpuCrypt: boolean;
  readonly highPriority: boolean;
  readonly submitFromCryptCpus: boolean;
  readonly noReadWorkqueue: boolean;
  readonly noWriteWorkqueue: boolean;
  /** integrity:<n>:<type>: tag bytes and type, when given. */
  readonly integrity: { readonly tagSize: number; readonly type: string } | undefined;
  /** integrity_key_size:<n>, when given. */
  readonly integrityKeySize: number | undefined;
  readonly sectorSize: number;
  readonly ivLargeSectors: boolean;
}

type MutableOptions = { -readonly [K in keyof CryptOptions]: CryptOptions[K] };

/** crypt_ctr_optional: reads `#opt_params` and that many arguments (extra ones are ignored). */
function parseOptional(argv: readonly string[], targetLen: number): CryptOptions {
  const o: MutableOptions = {
    allowDiscards: false,
    sameCpuCrypt: false,
    highPriority: false,
    submitFromCryptCpus: false,
    noReadWorkqueue: false,
    noWriteWorkqueue: false,
    integrity: undefined,
    integrityKeySize: undefined,
    sectorSize: SECTOR_SIZE,
    ivLargeSectors: false,
  };
  // dm_read_arg_group: an unsigned count, at most 9, and no more than the arguments left.
  const count = scanExact(argv[0]!, 32);
  if (count === undefined || count > BigInt(MAX_FEATURE_ARGS) || count > BigInt(argv.length - 1)) {
    throw ctrError('Invalid number of feature args');
  }
  for (let i = 1; i <= Number(count); i++) {
    const opt = argv[i]!;
    if (strcaseeq(opt, 'allow_discards')) o.allowDiscards = true;
    else if (strcaseeq(opt, 'same_cpu_crypt')) o.sameCpuCrypt = true;
    else if (strcaseeq(opt, 'high_priority')) o.highPriority = true;
    else if (strcaseeq(opt, 'submit_from_crypt_cpus')) o.submitFromCryptCpus = true;
    else if (strcaseeq(opt, 'no_read_workqueue')) o.noReadWorkqueue = true;
    else if (strcaseeq(opt, 'no_write_workqueue')) o.noWriteWorkqueue = true;
    else if (opt.startsWith('integrity:') && scanUnsigned(opt, 'integrity:'.length)) {
      // sscanf("integrity:%u:") == 1 once the number converts, whatever follows it.
      const val = Number(BigInt.asUintN(32, scanUnsigned(opt, 'integrity:'.length)!.value));
      if (val === 0 || val > MAX_TAG_SIZE) throw ctrError('Invalid integrity arguments');
      const colon = opt.indexOf(':', 'integrity:'.length);
      // The kernel dereferences strchr(...) + 1 unchecked; with no second ':' it would oops.
      const type = colon < 0 ? undefined : opt.slice(colon + 1);
      if (type === undefined || (!strcaseeq(type, 'aead') && !strcaseeq(type, 'none'))) throw ctrError('Unknown integrity profile');
      o.integrity = { tagSize: val, type };
    } else if (scanExact(opt, 32, 'integrity_key_size:') !== undefined) {
      const val = Number(scanExact(opt, 32, 'integrity_key_size:'));
      if (!val) throw ctrError('Invalid integrity_key_size argument');
      o.integrityKeySize = val;
    } else if (scanExact(opt, 16, 'sector_size:') !== undefined) {
      // %hu: the value is truncated to 16 bits before the checks, as in the kernel.
      const ss = Number(scanExact(opt, 16, 'sector_size:'));
      if (ss < SECTOR_SIZE || ss > 4096 || (ss & (ss - 1)) !== 0) throw ctrError('Invalid feature value for sector_size');
      if (targetLen & (ss / SECTOR_SIZE - 1)) throw ctrError('Device size is not multiple of sector_size feature');
      o.sectorSize = ss;
    } else if (strcaseeq(opt, 'iv_large_sectors')) o.ivLargeSectors = true;
    else throw ctrError('Invalid feature arguments');
  }
  return o;
}

/** get_key_size: bytes of a hex key (strlen / 2), or the size in `:<size>:<type>:<desc>`. */
function keySizeOf(key: string): { size: number; rest: string } | undefined {
  if (!key.startsWith(':')) return { size: kStrlen(key) >> 1, rest: key };
  const colon = key.indexOf(':', 1);
  if (colon < 0) return undefined;
  // sscanf(key + 1, "%u%c", &ret, &dummy) == 2 with dummy == ':'; ret is an int.
  const n = scanUnsigned(key, 1);
  if (!n || n.end >= key.length || key[n.end] !== ':') return undefined;
  const size = BigInt.asIntN(32, BigInt.asUintN(32, n.value));
  if (size < 0n) return undefined;
  return { size: Number(size), rest: key.slice(colon) };
}

export class CryptTarget implements Target {
  readonly engine: CryptEngine;
  readonly options: CryptOptions;
  private readonly dev: BlockDevice;
  private readonly base: number;
  private readonly areas: readonly DeviceArea[];
  /** The data path: kcryptd workers, inline paths, the sorted write queue. */
  readonly pipeline: CryptPipeline;
  private closed = false;

  constructor(
    private readonly cipherString: string,
    engine: CryptEngine,
    options: CryptOptions,
    private readonly ref: DeviceRef,
    private readonly start: bigint,
    len: number,
    spec: EngineSpec,
  ) {
    this.engine = engine;
    this.options = options;
    this.dev = ref.dev;
    this.base = Number(start) * SECTOR_SIZE;
    this.areas = [{ ref, start: Number(start), len }];
    this.pipeline = new CryptPipeline({ engine, spec, flags: options, dev: this.dev, base: this.base });
  }

  private check(op: string, offset: number, length: number): void {
    // crypt_map kills bios not aligned to the encryption sector size (DM_MAPIO_KILL -> EIO).
    const ss = this.options.sectorSize;
    if (offset % ss !== 0 || length % ss !== 0) {
      throw new UcryptError('ERR_IO', 'EIO', `crypt: ${op} at ${offset}+${length} is not aligned to the ${ss}-byte encryption sector`);
    }
  }

  read(offset: number, buf: Uint8Array): Promise<void> {
    try {
      this.check('read', offset, buf.length);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.pipeline.read(offset, buf);
  }

  write(offset: number, buf: Uint8Array, flags?: WriteFlags): Promise<void> {
    try {
      this.check('write', offset, buf.length);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.pipeline.write(offset, buf, flags);
  }

  /** Inline crypto over a device that completes in the call (a RAM disk, a cached file: CryptPipeline.readNow). */
  readNow(offset: number, buf: Uint8Array): boolean {
    this.check('read', offset, buf.length);
    return this.pipeline.readNow(offset, buf);
  }

  writeNow(offset: number, buf: Uint8Array, flags?: WriteFlags): boolean {
    this.check('write', offset, buf.length);
    return this.pipeline.writeNow(offset, buf, flags);
  }

  /** A flush waits for every write queued before it (see CryptPipeline.flush). */
  flush(): Promise<void> {
    return this.pipeline.flush();
  }

  discard(offset: number, length: number): Promise<void> {
    if (!this.options.allowDiscards) {
      return Promise.reject(new UcryptError('ERR_NOT_SUPPORTED', 'ENOTSUP', 'crypt: discards are not allowed (table has no allow_discards)'));
    }
    return this.dev.discard(this.base + offset, length);
  }

  /**
   * dm-crypt has no write-zeroes (num_write_zeroes_bios is 0): the block layer falls back to
   * writing zero pages, which get encrypted like any data.
   */
  async writeZeroes(offset: number, length: number, flags?: WriteZeroesFlags): Promise<void> {
    this.check('write-zeroes', offset, length);
    const zeros = new Uint8Array(Math.min(length, 1 << 20));
    const wf: WriteFlags | undefined = flags?.fua ? { fua: true } : undefined;
    for (let done = 0; done < length; done += zeros.length) {
      await this.write(offset + done, zeros.subarray(0, Math.min(zeros.length, length - done)), wf);
    }
  }

  /** crypt_status: nothing for info; the table line with the key masked unless showKeys. */
  status(type: StatusType, opts: StatusOptions): string {
    if (type === 'info') return '';
    const e = this.engine;
    const key = e.cfg.keySize > 0 ? bin2hex(e.key) : '-';
    // dmsetup table masks the key field with zeros of the same length; --showkeys shows it.
    let line = `${this.cipherString} ${opts.showKeys ? key : '0'.repeat(key.length)} ${e.cfg.ivOffset} ${this.ref.devName} ${this.start}`;
    const o = this.options;
    const features: string[] = [];
    if (o.allowDiscards) features.push('allow_discards');
    if (o.sameCpuCrypt) features.push('same_cpu_crypt');
    if (o.highPriority) features.push('high_priority');
    if (o.submitFromCryptCpus) features.push('submit_from_crypt_cpus');
    if (o.noReadWorkqueue) features.push('no_read_workqueue');
    if (o.noWriteWorkqueue) features.push('no_write_workqueue');
    if (o.integrity) features.push(`integrity:${o.integrity.tagSize}:${o.integrity.type}`);
    if (o.sectorSize !== SECTOR_SIZE) features.push(`sector_size:${o.sectorSize}`);
    if (o.ivLargeSectors) features.push('iv_large_sectors');
    if (o.integrityKeySize !== undefined) features.push(`integrity_key_size:${e.cfg.keyMacSize}`);
    if (features.length) line += ` ${features.length} ${features.join(' ')}`;
    return line;
  }

  devices(): readonly DeviceArea[] {
    return this.areas;
  }

  /** crypt_io_hints: the encryption sector is the logical and physical block size. */
  limits(): Partial<BlockLimits> {
    const ss = this.options.sectorSize;
    return { logicalBlockSize: ss, physicalBlockSize: ss, discard: this.options.allowDiscards, writeZeroes: false };
  }

  /**
   * crypt_message: `key set <key>` and `key wipe`, only while suspended. Failures the kernel
   * returns without logging carry `silent: true` in their context.
   */
  message(argv: readonly string[], suspended: boolean): string {
    if (argv.length >= 2 && strcaseeq(argv[0]!, 'key')) {
      if (!suspended) throw messageError('not suspended during key manipulation.');
      if (argv.length === 3 && strcaseeq(argv[1]!, 'set')) {
        // The key size may not be changed.
        const ks = keySizeOf(argv[2]!);
        if (!ks || ks.size !== this.engine.cfg.keySize) throw silent('EINVAL', 'key set: the new key must have the size of the current one');
        const err = this.engine.setKey(ks.rest);
        if (err) {
          this.pipeline.rekey();
          throw silent(err, 'key set: the key could not be decoded or set');
        }
        try {
          this.engine.ivgen?.init?.(this.engine.key);
        } catch {
          throw silent('EINVAL', 'key set: the IV key could not be set');
        } finally {
          // The kcryptd replicas follow (they are idle: the device is suspended).
          this.pipeline.rekey();
        }
        return '';
      }
      if (argv.length === 2 && strcaseeq(argv[1]!, 'wipe')) {
        this.engine.wipeKey();
        this.pipeline.rekey();
        return '';
      }
    }
    throw messageError('unrecognised message received.');
  }

  /** crypt_postsuspend: nothing of this target is in flight any more (workers, write tree). */
  postsuspend(): Promise<void> {
    return this.pipeline.idle();
  }

  /** crypt_preresume: no resume without a valid key (-EAGAIN). */
  preresume(): void {
    if (!this.engine.keyValid) throw new UcryptError('ERR_SUSPENDED', 'EAGAIN', 'crypt: aborting resume - crypt key is not set.');
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // crypt_dtr: destroy the workqueue (workers wipe their replicas), then the main engine.
    this.pipeline.close();
    this.engine.close();
  }
}

/** A message failure the kernel does not log (it only returns the errno). */
function silent(errno: CryptErrno, message: string): UcryptError {
  return new UcryptError('ERR_NO_MESSAGES', errno as ErrnoName, message, { silent: true });
}

/** Test-only: every buffer of a crypt target that holds key material (zero after close). */
export function cryptKeyBuffers(target: Target): Uint8Array[] {
  if (!(target instanceof CryptTarget)) throw new TypeError('not a crypt target');
  return target.engine.secrets();
}

/**
 * A kernel log line from the constructor (DMWARN/DMERR). The registry's context provides `log`
 * where it supports it; without it the line is dropped (the table result is the same).
 */
function klog(ctx: TargetContext, line: string): void {
  ctx.log?.(line);
}

async function construct(args: readonly string[], ctx: TargetContext): Promise<Target> {
  if (args.length < 5) throw ctrError('Not enough arguments');
  const ks = keySizeOf(args[1]!);
  if (!ks) throw ctrError('Cannot parse key size');
  if (ks.size > MAX_KEY_SIZE) throw ctrError('Cannot allocate encryption context', 'ENOMEM');

  // Optional parameters are read before the cipher constructor.
  const opts = args.length > 5 ? parseOptional(args.slice(5), ctx.len) : parseOptional(['0'], ctx.len);
  const aead = opts.integrity !== undefined && strcaseeq(opts.integrity.type, 'aead');

  const spec = parseCipher(args[0]!, { aead, keyMacSize: opts.integrityKeySize });

  // crypt_ctr_ivmode
  let ivSize = spec.algo.ivSize;
  let ivmode = spec.ivmode;
  if (ivSize) ivSize = Math.max(ivSize, 8);
  else if (ivmode !== undefined) {
    klog(ctx, 'device-mapper: crypt: Selected cipher does not support IVs');
    ivmode = undefined;
  }
  const layout: IvKeyLayout = { keyParts: spec.tfmsCount, keyExtraSize: 0, integrityIvSize: 0, preprocess: false };
  const mode = ivmode === undefined ? undefined : getIvMode(ivmode);
  if (ivmode !== undefined && !mode) throw ctrError('Invalid IV mode');
  // A layout the mode cannot use (elephant with a > 64-byte key) fails without ti->error set.
  if (mode?.layout && !mode.layout(layout, ks.size, ivSize, spec.tfmsCount)) throw ctrError('Unknown error');

  // iv_offset is checked after the IV setup (below); the engine needs its value first.
  const ivOffset = scanExact(args[2]!, 64);
  const engine = new CryptEngine({
    algo: spec.algo,
    tfmsCount: spec.tfmsCount,
    keySize: ks.size,
    keyParts: layout.keyParts,
    keyExtraSize: layout.keyExtraSize,
    keyMacSize: spec.keyMacSize,
    ivSize,
    sectorSize: opts.sectorSize,
    ivLargeSectors: opts.ivLargeSectors,
    ivOffset: ivOffset ?? 0n,
  });
  engine.log = (line) => klog(ctx, line);
  try {
    const err = engine.setKey(ks.rest);
    if (err) throw ctrError('Error decoding and setting key', err);
    if (mode) {
      try {
        engine.ivgen = mode.create(
          {
            ivSize,
            sectorSize: opts.sectorSize,
            keySize: ks.size,
            keyParts: layout.keyParts,
            keyExtraSize: layout.keyExtraSize,
            tfmsCount: spec.tfmsCount,
            aead: spec.algo.aead,
            cipherBlockSize: spec.algo.blockSize,
            bulk: () => engine.bulk(),
          },
          spec.ivopts,
        );
      } catch (e) {
        throw ctrError('Error creating IV', e instanceof IvError ? e.errno : 'EINVAL');
      }
      try {
        engine.ivgen.init?.(engine.key);
      } catch {
        throw ctrError('Error initialising IV');
      }
    }

    if (ivOffset === undefined || (ivOffset & BigInt(opts.sectorSize / SECTOR_SIZE - 1)) !== 0n) throw ctrError('Invalid iv_offset sector');

    let ref: DeviceRef;
    try {
      ref = await ctx.getDevice(args[3]!);
    } catch (e) {
      throw ctrError('Device lookup failed', errnoOf(e) === 'EINVAL' ? 'EINVAL' : 'ENODEV');
    }
    const start = scanExact(args[4]!, 64);
    if (start === undefined) throw ctrError('Invalid device sector');

    // crypt_integrity_ctr: AEADs and IVs kept in metadata need an integrity profile underneath.
    if (spec.algo.aead || layout.integrityIvSize) throw ctrError('Integrity profile not supported.');

    const replica: EngineSpec = {
      cipher: args[0]!,
      keySize: ks.size,
      aead,
      integrityKeySize: opts.integrityKeySize,
      sectorSize: opts.sectorSize,
      ivLargeSectors: opts.ivLargeSectors,
      ivOffset: (ivOffset ?? 0n).toString(),
    };
    return new CryptTarget(args[0]!, engine, opts, ref, start, ctx.len, replica);
  } catch (e) {
    engine.close();
    throw e;
  }
}

export const cryptTarget: TargetType = {
  name: 'crypt',
  version: [1, 29, 0],
  create: construct,
};
