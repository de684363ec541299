// What a CLI command talks to: its output streams, stdin, and the control plane. The process
// binding uses the daemon (started on demand); tests bind a Registry in-process instead.

import type { Registry } from '../dm/registry.js';
import { fromWireError, toWireError } from '../daemon/protocol.js';
import { runtimePaths } from '../daemon/paths.js';
import { UcryptError } from '../errors.js';

export interface Control {
  call<T = unknown>(op: string, args?: Record<string, unknown>): Promise<T>;
  close(): void;
}

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
  readStdin(): Promise<string>;
  /** The control plane (connects, or starts the daemon, on first use). */
  control(): Promise<Control>;
  readonly env: NodeJS.ProcessEnv;
}

/** The registry in this process, with the same JSON boundary as the socket (so tests see wire behaviour). */
export function localControl(registry: Registry): Control {
  return {
    async call<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
      // Loaded on first use: a process that talks to the daemon never needs the handlers.
      const { handlers } = await import('../daemon/handlers.js');
      const h = Object.hasOwn(handlers, op) ? handlers[op] : undefined;
      try {
        if (!h) throw new UcryptError('ERR_CONTROL_PROTOCOL', 'EINVAL', `unknown control operation '${op}'`);
        const result = await h(registry, JSON.parse(JSON.stringify(args)) as Record<string, unknown>);
        return JSON.parse(JSON.stringify(result ?? null)) as T;
      } catch (err) {
        throw fromWireError(toWireError(err));
      }
    },
    close() {},
  };
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

export function processIO(env: NodeJS.ProcessEnv = process.env, out: (t: string) => void = (t) => void process.stdout.write(t)): CliIO & { dispose(): void } {
  let control: Control | undefined;
  return {
    out,
    err: (t) => void process.stderr.write(t),
    readStdin: () => readAll(process.stdin),
    env,
    async control() {
      const { connectOrStart } = await import('../daemon/client.js');
      control ??= await connectOrStart(runtimePaths(env), (msg) => process.stderr.write(`${msg}\n`));
      return control;
    },
    dispose() {
      control?.close();
    },
  };
}
