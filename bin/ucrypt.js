#!/usr/bin/env node
// Entry point: the compiled CLI lives in dist/ (built by `npm ci`/`npm install` via `prepare`).
import { main } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { console.error(`ucrypt: ${err instanceof Error ? err.message : String(err)}`); process.exitCode = 1; },
);
