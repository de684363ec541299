// The long fuzzing mode: every fuzzer of test/fuzz/ with as many inputs as asked.
//   node dist/bench/fuzz.js [--inputs N] [--seed S] [--only SUBSTRING]
// Prints inputs, crashes and time per parser, then the total; exits 1 when anything crashed
// (each crash with its seed and input index: UCRYPT_FUZZ_SEED=S in the test reproduces it).

import { controlFuzzer, luks1Fuzzer, luks2Fuzzer, nbdDecoderFuzzer, tableFuzzer, withShortStacks, type Fuzzer } from '../test/fuzz/engine.js';
import { nbdStreamFuzzer } from '../test/fuzz/nbd-stream.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const inputs = Number(arg('--inputs') ?? 1_000_000);
const seed = arg('--seed') !== undefined ? Number(arg('--seed')) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const only = arg('--only');
if (!Number.isSafeInteger(inputs) || inputs <= 0) {
  console.error('usage: node dist/bench/fuzz.js [--inputs N] [--seed S] [--only SUBSTRING]');
  process.exit(2);
}

const fuzzers: Fuzzer[] = [tableFuzzer(), controlFuzzer(), nbdDecoderFuzzer(), nbdStreamFuzzer(), luks1Fuzzer(), luks2Fuzzer()].filter((f) => !only || f.name.includes(only));
console.log(`ucrypt fuzz: ${inputs} inputs per parser, seed ${seed}`);
let total = 0;
let crashes = 0;
const started = performance.now();
for (const f of fuzzers) {
  const r = await withShortStacks(() => f.run(inputs, seed));
  total += r.inputs;
  crashes += r.crashes.length;
  console.log(`${f.name.padEnd(82)} ${String(r.inputs).padStart(10)} inputs ${String(r.crashes.length).padStart(5)} crashes ${(r.ms / 1000).toFixed(1).padStart(7)} s ${Math.round(r.inputs / (r.ms / 1000)).toString().padStart(8)}/s`);
  for (const c of r.crashes.slice(0, 10)) console.log(`  crash #${c.index} (seed ${c.seed}): ${c.error.split('\n')[0]}\n    input: ${c.input}`);
}
console.log(`inputs fuzzed: ${total}; crashes: ${crashes}; ${((performance.now() - started) / 1000).toFixed(1)} s`);
process.exit(crashes > 0 ? 1 : 0);
