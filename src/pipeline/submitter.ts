// The submitting "CPU" of an I/O, for same_cpu_crypt.
//
// In the kernel a bio is queued on the CPU that runs crypt_map (smp_processor_id()), and with
// same_cpu_crypt the bound kcryptd workqueue runs its crypto on that same CPU. Node has one
// submitting thread, so the nearest notion of "the submitter" is the queue that issued the I/O:
// an NBD connection, an fio job. A caller that has one sets it around the synchronous part of
// its submission (like preempt_disable around smp_processor_id()):
//
//   withSubmitter(connectionId, () => dev.read(offset, buf))
//
// The crypt target reads it synchronously when the I/O enters crypt_map. Without one, every
// request of a target stays on one fixed worker (the target's "CPU").

let current = -1;

/** Runs fn with `id` (a non-negative integer) as the submitter of the I/O it starts. */
export function withSubmitter<T>(id: number, fn: () => T): T {
  const prev = current;
  current = id;
  try {
    return fn();
  } finally {
    current = prev;
  }
}

/** The submitter of the I/O being started, or -1 when none was set. */
export function currentSubmitter(): number {
  return current;
}
