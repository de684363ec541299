// The library API: everything the CLI does, without a daemon.
//
//   const reg = new Registry();
//   reg.modprobeBrd({ rd_nr: 1, rd_size: 65536 });
//   await reg.create('lin', { table: '0 1024 linear /dev/ram0 0' });
//   const dev = await reg.device('/dev/mapper/lin');   // a BlockDevice
//   await dev.write(0, data); await dev.read(0, buf);

export type { BlockDevice, BlockLimits, WriteFlags, WriteZeroesFlags } from './block/device.js';
export { SECTOR_SIZE, checkIo } from './block/device.js';
export { RamDisk, PAGE_SIZE } from './backends/ram/ramdisk.js';
export { parseBrdParams, createRamDisks, BRD_DEFAULTS } from './backends/ram/brd.js';
export type { BrdParams } from './backends/ram/brd.js';
export { FileDevice } from './backends/file/file.js';
export type { FileDeviceOptions } from './backends/file/file.js';
export { Registry, DM_MAJOR, RAM_MAJOR, LOOP_MAJOR } from './dm/registry.js';
export type { DeviceInfo, CreateOptions } from './dm/registry.js';
export { MappedDevice, Table } from './dm/mapped-device.js';
export { parseTable, splitArgs } from './dm/table.js';
export type { TableLine } from './dm/table.js';
export { registerTargetType, getTargetType, targetError } from './dm/target.js';
export type { Target, TargetType, TargetContext, DeviceRef, DeviceArea, StatusType } from './dm/target.js';
export { UcryptError, Errno, strerror } from './errors.js';
export type { ErrorCode, ErrnoName } from './errors.js';
export { startDaemon } from './daemon/server.js';
export { ControlClient, spawnDaemon } from './daemon/client.js';
export { runtimePaths } from './daemon/paths.js';
export { runCli } from './cli/main.js';
