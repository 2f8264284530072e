/**
 * Loads build/Release/ortex.node. On failure, one error listing the likely causes, as
 * users meet it once at import time and need to know what to do next.
 */

import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';
import { OrtexError } from './errors.js';

/** Wire encoding shared with native/value_convert.h. */
export type EncodedTensor = [type: number, data: ArrayBufferView | ArrayBuffer | string[], dims: number[]];
export type EncodedValue = EncodedTensor | { sequence: EncodedValue[]; elemType?: number } | { keys: EncodedTensor; values: EncodedTensor } | null;

export interface NativeValueInfo {
  name: string;
  kind: number; // ONNXType: 1 tensor, 2 sequence, 3 map, 4 opaque, 5 sparse tensor, 6 optional
  elemType: number;
  description: string;
  shape: Array<number | string>;
}

export interface NativeProviderAttempt {
  name: string;
  options: Array<[string, string]>;
  ok: boolean;
  error: string;
}

export interface NativeLoadInfo {
  inputs: NativeValueInfo[];
  outputs: NativeValueInfo[];
  executionProviders: string[];
  warnings: string[];
  providerAttempts: NativeProviderAttempt[];
}

export interface NativeRunOptions {
  terminate(): void;
  unsetTerminate(): void;
}

export interface NativeSession {
  load(pathOrBytes: string | Uint8Array, options: object): Promise<NativeLoadInfo>;
  runSync(inputIdx: number[], values: EncodedValue[], outputIdx: number[], runOptions?: NativeRunOptions | null): EncodedValue[];
  run(inputIdx: number[], values: EncodedValue[], outputIdx: number[], runOptions?: NativeRunOptions | null): Promise<EncodedValue[]>;
  /** Fast convention: descriptors in the scratch set by setScratch(), tensor data as arguments. */
  runSyncT(...data: unknown[]): unknown;
  /** runSyncT() as a plain function bound to this session (no lookup of `this` per call). */
  bindRunSync(): (...data: unknown[]) => unknown;
  runT(...data: unknown[]): Promise<unknown>;
  /** `out`: where runSyncT() may copy small outputs' bytes for JS to slice out (meta kind 2). */
  setScratch(scratch: Float64Array, out?: Uint8Array): void;
  /** Result slots of runT(): `count` equal parts of `meta` and of `bytes`; the scratch's last element picks one per call (-1: none). */
  setSlots(meta: Float64Array, bytes: Uint8Array, count: number): void;
  release(): void;
  endProfiling(): string;
  readonly inflight: number;
}

export interface NativeIoBinding {
  bindInput(index: number, value: EncodedTensor): void;
  bindOutput(index: number, value: EncodedTensor | null): void;
  allocate(type: number, dims: number[]): EncodedTensor;
  runSync(runOptions?: NativeRunOptions | null): Record<string, EncodedValue>;
  run(runOptions?: NativeRunOptions | null): Promise<Record<string, EncodedValue>>;
  clear(): void;
  readonly hostMemory: 'cpu' | 'cuda-pinned';
}

export interface NativeBatchModel {
  load(pathOrBytes: string | Uint8Array, sessionOptions: object, instances: number): Promise<NativeLoadInfo>;
  start(batcherOptions: object): void;
  discard(): void;
  attach(handle: number): NativeLoadInfo;
  setScratch(scratch: Float64Array): void;
  /** Descriptors in the scratch ([priority, timeoutUs, rows, dims...]), data as arguments; returns the request's slot. */
  enqueue(...data: unknown[]): number;
  cancel(slot: number): boolean;
  stats(): Float64Array;
  configure(maxBatchSize: number, maxQueueDelayUs: number): void;
  hold(n: number): void;
  close(drain: boolean): void;
  join(): void;
  share(): number;
}

/** What hashParts() takes: a string, bytes (read in place) or a list of those. */
export type HashPart = string | ArrayBufferView | ArrayBuffer | readonly HashPart[];

export type BatchCompletion = (meta: Float64Array, outputs: unknown[] | null, errors: Array<[string, string] | undefined> | null, closed: boolean) => void;

export interface NativeAddon {
  BatchModel: new (onComplete: BatchCompletion) => NativeBatchModel;
  Session: new () => NativeSession;
  RunOptions: new (options?: object) => NativeRunOptions;
  IoBinding: new (session: NativeSession) => NativeIoBinding;
  /** 64-bit hash of the parts (native/hash.h): strings as UTF-8, buffers read in place, arrays as lists of parts. */
  hashParts(seed: string, ...parts: HashPart[]): bigint;
  availableProviders(): string[];
  /** Silences ORT's log, terminates runs without RunOptions of their own, waits up to `ms` for runs to leave ORT; returns how many are left (native/ort_env.h). */
  quiesceForExit(ms: number): number;
  /** Runs now inside ORT on ortex's own threads; for tests. */
  runsInOrt(): number;
  ortVersion: string;
  ortApiVersion: number;
  ortBuildInfo: string;
  libraryDir: string;
}

const here = dirname(fileURLToPath(import.meta.url));

function findRoot(): string {
  // src/ when run from source (vitest), dist/src/ when compiled.
  for (const up of ['..', '../..']) {
    const root = join(here, up);
    if (existsSync(join(root, 'package.json')) && existsSync(join(root, 'CMakeLists.txt'))) return root;
  }
  return join(here, '..');
}

function load(): NativeAddon {
  // ONNX Runtime 1.30 on Linux starts a telemetry uploader (HTTPS to Microsoft's OneCollector)
  // unless this is set; the OrtApi's DisableTelemetryEvents does not stop it. A server should
  // not phone home by default, and at exit that thread has been seen reading freed memory
  // (under ASan). An explicit setting, either way, is left as it is.
  process.env.ORT_DISABLE_TELEMETRY ??= '1';
  // ORTEX_ADDON points at another build of the addon (e.g. the ASan one in build-asan/).
  const path = process.env.ORTEX_ADDON || join(findRoot(), 'build', 'Release', 'ortex.node');
  try {
    return createRequire(import.meta.url)(path) as NativeAddon;
  } catch (err) {
    const reason = (err as Error).message;
    throw new OrtexError(
      'ERR_NATIVE_LOAD',
      [
        `Could not load the ortex native addon from ${path}`,
        `  ${reason}`,
        'Possible causes:',
        existsSync(path)
          ? '- the addon was built for another platform or Node-API version: run `npm run build`'
          : '- the addon was not built: run `npm ci` (or `npm run build`); the build needs cmake, g++ and the npm dependencies',
        '- libonnxruntime.so.1 is missing beside the addon (it is copied there by the build)',
        '- this platform is not linux-x64 with glibc >= 2.27',
      ].join('\n'),
      { cause: err },
    );
  }
}

export const native: NativeAddon = load();

/**
 * How long a process that exits waits for runs in flight on ortex's threads, in ms. Without
 * this, exit() destroys ONNX Runtime's statics under them, and ORT logs an error for each
 * run. Only the main thread's exit ends the process; a worker_thread's env is stopped by the
 * addon's own cleanup hook instead.
 */
const EXIT_WAIT_MS = 100;
if (isMainThread) process.once('exit', () => native.quiesceForExit(EXIT_WAIT_MS));
