// The built-in target types, registered once (the kernel's dm_target_init).
import { registerTargetType } from '../dm/target.js';
import { errorTarget } from './error/error.js';
import { linearTarget } from './linear/linear.js';
import { zeroTarget } from './zero/zero.js';

export function registerBuiltinTargets(): void {
  for (const t of [linearTarget, zeroTarget, errorTarget]) registerTargetType(t);
}
