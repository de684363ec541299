// Codec unit tests: byte layouts from doc/proto.md, checked field by field.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CMD, INFO, NBD_ERR, REP, REPLY_MAGIC, TF, decodeInfoRequest, decodeMetaContextRequest, decodeOptionHeader, decodeRequest,
  encodeErrorChunk, encodeExportNameReply, encodeGreeting, encodeInfoBlockSize, encodeInfoExport, encodeMetaContext,
  encodeOptionReply, encodeRequest, encodeServer, encodeSimpleReply, encodeStructuredHeader, nbdError, transmissionFlags,
} from '../../src/nbd/protocol.js';
import type { RequestHeader } from '../../src/nbd/protocol.js';
import { blockSizes } from '../../src/nbd/server.js';
import { RamDisk } from '../../src/backends/ram/ramdisk.js';
import { infoRequest, metaRequest } from './client.js';

test('greeting: NBDMAGIC IHAVEOPT flags', () => {
  assert.equal(encodeGreeting(3).toString('hex'), '4e42444d41474943' + '49484156454f5054' + '0003');
});

test('option header and option replies', () => {
  const h = Buffer.from('49484156454f5054' + '00000007' + '0000000a', 'hex');
  assert.deepEqual(decodeOptionHeader(h), { option: 7, length: 10 });
  assert.equal(decodeOptionHeader(Buffer.alloc(16)), undefined);
  const r = encodeOptionReply(3, REP.SERVER, encodeServer('ram0', 'd'));
  assert.equal(r.readBigUInt64BE(0), REPLY_MAGIC);
  assert.deepEqual([r.readUInt32BE(8), r.readUInt32BE(12), r.readUInt32BE(16)], [3, 2, 9]);
  assert.equal(r.subarray(20).toString('hex'), '00000004' + Buffer.from('ram0d').toString('hex'));
  const e = encodeOptionReply(1, REP.ERR_UNSUP);
  assert.equal(e.readUInt32BE(12), 0x80000001);
  assert.equal(e.length, 20);
});

test('NBD_REP_INFO payloads and the EXPORT_NAME reply', () => {
  assert.equal(encodeInfoExport(2 ** 40 + 5, 0x1234).toString('hex'), '0000' + '0000010000000005' + '1234');
  assert.equal(encodeInfoBlockSize(512, 4096, 1 << 25).toString('hex'), '0003' + '00000200' + '00001000' + '02000000');
  assert.equal(encodeMetaContext(1, 'base:allocation').toString('hex'), '00000001' + Buffer.from('base:allocation').toString('hex'));
  assert.equal(encodeExportNameReply(4096, 1, false).length, 134);
  assert.equal(encodeExportNameReply(4096, 1, true).toString('hex'), '0000000000001000' + '0001');
});

test('INFO/GO and meta context requests: exact lengths or undefined', () => {
  assert.deepEqual(decodeInfoRequest(infoRequest('x', [INFO.NAME, INFO.BLOCK_SIZE])), { name: 'x', requests: [1, 3] });
  assert.equal(decodeInfoRequest(Buffer.concat([infoRequest('x', []), Buffer.alloc(1)])), undefined, 'trailing byte');
  assert.equal(decodeInfoRequest(Buffer.from('0000ffff', 'hex')), undefined, 'name longer than data');
  assert.deepEqual(decodeMetaContextRequest(metaRequest('e', ['base:allocation', 'x:y'])), { name: 'e', queries: ['base:allocation', 'x:y'] });
  const m = metaRequest('e', ['base:allocation']);
  assert.equal(decodeMetaContextRequest(m.subarray(0, m.length - 1)), undefined);
  assert.equal(decodeMetaContextRequest(Buffer.concat([m, Buffer.alloc(2)])), undefined);
});

test('requests and replies', () => {
  const b = Buffer.alloc(28);
  const h: RequestHeader = { flags: 1, type: CMD.WRITE, cookieHi: 0xdeadbeef, cookieLo: 0x01020304, offset: 2 ** 45 + 4096, length: 65536 };
  encodeRequest(b, 0, h);
  assert.equal(b.toString('hex'), '25609513' + '0001' + '0001' + 'deadbeef01020304' + '0000200000001000' + '00010000');
  const out: RequestHeader = { flags: 0, type: 0, cookieHi: 0, cookieLo: 0, offset: 0, length: 0 };
  assert.ok(decodeRequest(b, 0, out));
  assert.deepEqual(out, h);
  b[0] = 0;
  assert.equal(decodeRequest(b, 0, out), false);
  const s = Buffer.alloc(16);
  encodeSimpleReply(s, 0, 22, 1, 2);
  assert.equal(s.toString('hex'), '67446698' + '00000016' + '0000000100000002');
  const st = Buffer.alloc(20);
  encodeStructuredHeader(st, 0, 1, 5, 0, 9, 12);
  assert.equal(st.toString('hex'), '668e33ef' + '0001' + '0005' + '0000000000000009' + '0000000c');
  const e = encodeErrorChunk(NBD_ERR.EIO, 0, 1, 'bad');
  assert.equal(e.subarray(4).toString('hex'), '0001' + '8001' + '0000000000000001' + '00000009' + '00000005' + '0003' + Buffer.from('bad').toString('hex'));
  assert.equal(encodeErrorChunk(5, 0, 0, 'x'.repeat(10000)).readUInt16BE(24), 4096, 'messages capped at 4096 bytes');
});

test('errno mapping to NBD errors', () => {
  assert.equal(nbdError('EROFS'), NBD_ERR.EPERM);
  assert.equal(nbdError('EPERM'), NBD_ERR.EPERM);
  assert.equal(nbdError('EFBIG'), NBD_ERR.ENOSPC);
  assert.equal(nbdError('ENOSPC'), NBD_ERR.ENOSPC);
  assert.equal(nbdError('EINVAL'), NBD_ERR.EINVAL);
  assert.equal(nbdError('ENOMEM'), NBD_ERR.ENOMEM);
  assert.equal(nbdError('ENOTSUP'), NBD_ERR.ENOTSUP);
  assert.equal(nbdError('ESHUTDOWN'), NBD_ERR.ESHUTDOWN);
  assert.equal(nbdError('EIO'), NBD_ERR.EIO);
  assert.equal(nbdError('EBUSY'), NBD_ERR.EIO);
});

test('transmission flags and block sizes', () => {
  const rw = transmissionFlags({ readOnly: false, discard: true }, false);
  assert.equal(rw, TF.HAS_FLAGS | TF.SEND_FLUSH | TF.SEND_FUA | TF.SEND_CACHE | TF.CAN_MULTI_CONN | TF.SEND_WRITE_ZEROES | TF.SEND_FAST_ZERO | TF.SEND_TRIM);
  const ro = transmissionFlags({ readOnly: true, discard: true }, true);
  assert.equal(ro & (TF.SEND_TRIM | TF.SEND_WRITE_ZEROES), 0);
  assert.ok(ro & TF.READ_ONLY && ro & TF.SEND_DF);
  assert.deepEqual(blockSizes(new RamDisk(1 << 20)), { minimum: 512, preferred: 4096, maximum: 32 << 20 });
  const crypt4k = { size: 1 << 20, limits: { logicalBlockSize: 4096, physicalBlockSize: 4096, maxTransfer: 1 << 20, discard: false, writeZeroes: false, readOnly: false } };
  assert.deepEqual(blockSizes(crypt4k as never), { minimum: 4096, preferred: 4096, maximum: 1 << 20 });
});
