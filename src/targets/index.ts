// The built-in target types, registered once (the kernel's dm_target_init).
import { registerTargetType } from '../dm/target.js';
import { errorTarget } from './error/error.js';
import { linearTarget } from './linear/linear.js';
import { zeroTarget } from './zero/zero.js';

export function registerBuiltinTargets(): void {
  // Registration order as the kernel's (error and linear at dm init, module targets after);
  // `dmsetup targets` lists the newest first.
  for (const t of [errorTarget, linearTarget, zeroTarget]) registerTargetType(t);
}
