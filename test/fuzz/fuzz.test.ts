// Fuzzing in the default test run: at least 100,000 inputs per parser that takes outside input
// (table lines, control messages, NBD packets and streams, LUKS1/LUKS2 headers and JSON), zero
// crashes (a throw of anything but the documented error type) and zero hangs.
//   UCRYPT_FUZZ_SEED=N     reproduces a run (the seed is printed, and in every failure message)
//   UCRYPT_FUZZ_INPUTS=N   inputs per parser (default 100000); bench/fuzz.ts is the long mode

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { controlFuzzer, luks1Fuzzer, luks2Fuzzer, nbdDecoderFuzzer, tableFuzzer, withShortStacks, type Fuzzer } from './engine.js';
import { nbdStreamFuzzer } from './nbd-stream.js';

const SEED = process.env['UCRYPT_FUZZ_SEED'] ? Number(process.env['UCRYPT_FUZZ_SEED']) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const INPUTS = Number(process.env['UCRYPT_FUZZ_INPUTS'] ?? 100_000);

const fuzzers: Fuzzer[] = [tableFuzzer(), controlFuzzer(), nbdDecoderFuzzer(), nbdStreamFuzzer(), luks1Fuzzer(), luks2Fuzzer()];

for (const f of fuzzers) {
  test(`fuzz: ${f.name}: ${INPUTS} inputs, no crash, no hang`, { timeout: 10 * 60_000 }, async (t) => {
    const r = await withShortStacks(() => f.run(INPUTS, SEED));
    t.diagnostic(`seed ${SEED}: ${r.inputs} inputs in ${(r.ms / 1000).toFixed(1)} s, ${r.crashes.length} crashes`);
    assert.ok(r.inputs >= INPUTS, `${r.inputs} inputs`);
    const shown = r.crashes.slice(0, 5).map((c) => `#${c.index} input ${c.input}\n  ${c.error}`);
    assert.equal(r.crashes.length, 0, `seed ${SEED} (UCRYPT_FUZZ_SEED=${SEED} reproduces): ${r.crashes.length} crashes:\n${shown.join('\n')}`);
  });
}
