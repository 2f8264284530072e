/**
 * Runs one ONNX backend test case through a runtime and sorts any failure into a category.
 *
 * A runtime is reached through a RuntimeAdapter: onnxruntime-node and ortex share the
 * InferenceSession/Tensor API, so one adapter factory serves both; they differ only in which
 * values they accept (see `OrtNodeValues` and `OrtexValues`).
 */
import { compareValues } from './compare.js';
import type {
  LoadedCase, MapKey, ModelSignature, TensorData, TensorType, TensorValue, Value,
} from './testdata.js';
import { shapeConflicts } from './testdata.js';

export type FailReason = 'load' | 'run' | 'mismatch' | 'unsupported-value';

export type CaseResult =
  | { readonly status: 'pass' }
  | { readonly status: 'fail'; readonly reason: FailReason; readonly message: string };

/** Thrown by an adapter for a value its runtime cannot represent. */
export class UnsupportedValueError extends Error {
  override readonly name = 'UnsupportedValueError';
}

// ---------------------------------------------------------------------------------------------
// The shape both runtimes share

export interface OrtLikeTensor {
  readonly type: string;
  readonly data: unknown;
  readonly dims: readonly number[];
}

export interface OrtLikeSession {
  run(feeds: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** ortex only: checked too, twice, since a second call reuses what the first left (native/sync_reuse.h). */
  runSync?(feeds: Record<string, unknown>): Record<string, unknown>;
  release(): Promise<void>;
}

export interface OrtLikeModule {
  readonly InferenceSession: {
    create(path: string, options?: Record<string, unknown>): Promise<OrtLikeSession>;
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- both Tensor classes overload their constructor
  readonly Tensor: new (...args: any[]) => OrtLikeTensor;
}

export interface RuntimeAdapter {
  readonly name: string;
  createSession(modelPath: string): Promise<OrtLikeSession>;
  /** Converts a test value into a feed; throws UnsupportedValueError when it has no form. */
  toFeed(value: Value): unknown;
  /** Converts a fetched output back; throws UnsupportedValueError when it cannot. */
  fromOutput(output: unknown): Value;
  /** True when a load or run error says the runtime has no form for a value type. */
  isUnsupportedValueError(message: string): boolean;
  /**
   * Why the runtime cannot take or give the declared values at all, checked before loading;
   * undefined when it can.
   */
  unsupportedSignature(signature: ModelSignature): string | undefined;
}

/** Session options for every case: one thread, so both runtimes fit in the CI time budget. */
export const SESSION_OPTIONS: Readonly<Record<string, unknown>> = {
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
  // Some models make ORT warn (unused initializers and the like); that is noise here.
  logSeverityLevel: 3,
};

interface ValuePolicy {
  readonly tensorTypes: ReadonlySet<TensorType>;
  /** Sequences as arrays, maps as Map, absent optionals as null. */
  readonly nonTensorValues: boolean;
  readonly unsupportedValuePattern: RegExp;
}

const COMMON_TYPES: readonly TensorType[] = [
  'float32', 'uint8', 'int8', 'uint16', 'int16', 'int32', 'int64', 'string', 'bool', 'float16',
  'float64', 'uint32', 'uint64',
];

/** onnxruntime-node 1.30: tensors only, no bfloat16 (its metadata table has no entry for 16). */
export const OrtNodeValues: ValuePolicy = {
  tensorTypes: new Set(COMMON_TYPES),
  nonTensorValues: false,
  unsupportedValuePattern: /Non tensor type is temporarily not supported|Unsupported data type: \d+/,
};

/** ortex: every tensor type of the test data plus sequences, maps and optionals. */
export const OrtexValues: ValuePolicy = {
  tensorTypes: new Set<TensorType>([...COMMON_TYPES, 'bfloat16']),
  nonTensorValues: true,
  // ortex is meant to have no such error; nothing is excused as unsupported.
  unsupportedValuePattern: /(?!)/,
};

/** Builds the adapter for a module with the onnxruntime-node API. */
export function ortAdapter(name: string, mod: OrtLikeModule, policy: ValuePolicy): RuntimeAdapter {
  const toFeed = (value: Value): unknown => {
    if (value === null) {
      if (!policy.nonTensorValues) throw new UnsupportedValueError('absent optional value');
      return null;
    }
    switch (value.kind) {
      case 'tensor':
        if (!policy.tensorTypes.has(value.type)) {
          throw new UnsupportedValueError(`${value.type} tensor`);
        }
        return new mod.Tensor(value.type, value.data, value.dims);
      case 'sequence':
        if (!policy.nonTensorValues) throw new UnsupportedValueError('sequence value');
        return value.elements.map(toFeed);
      case 'map':
        if (!policy.nonTensorValues) throw new UnsupportedValueError('map value');
        return new Map(value.entries.map(([k, v]) => [k, mapScalar(v)]));
    }
  };
  const fromOutput = (output: unknown): Value => {
    if (output === null && policy.nonTensorValues) return null;
    if (isTensor(output)) return tensorValue(output);
    if (Array.isArray(output) && policy.nonTensorValues) {
      return { kind: 'sequence', elements: output.map(fromOutput) };
    }
    // A fetched map does not say its value type (a number may be float32 or float64), and no
    // case of the ONNX 1.12 test data returns one, so none is compared.
    throw new UnsupportedValueError(`output of unexpected form: ${describeJs(output)}`);
  };
  return {
    name,
    createSession: (modelPath) => mod.InferenceSession.create(modelPath, { ...SESSION_OPTIONS }),
    toFeed,
    fromOutput,
    isUnsupportedValueError: (message) => policy.unsupportedValuePattern.test(message),
    unsupportedSignature: (signature) => {
      if (policy.nonTensorValues) return undefined;
      // Checked up front rather than left to run(): onnxruntime-node 1.30 throws for a sequence
      // output but crashes the process (SIGSEGV) fetching an optional one (node/test_if_opt).
      const value = [...signature.inputs, ...signature.outputs]
        .find((v) => v.type.kind !== 'tensor' && v.type.kind !== 'unknown');
      return value === undefined ? undefined : `'${value.name}' is a ${value.type.kind} value`;
    },
  };
}

function isTensor(x: unknown): x is OrtLikeTensor {
  return typeof x === 'object' && x !== null && 'type' in x && 'data' in x && 'dims' in x;
}

function tensorValue(t: OrtLikeTensor): TensorValue {
  return { kind: 'tensor', type: t.type as TensorType, dims: [...t.dims], data: t.data as TensorData };
}

// A map holds scalars; the test data spells each as a one-element tensor.
function mapScalar(v: Value): MapKey {
  if (v === null || v.kind !== 'tensor' || v.data.length !== 1) {
    throw new UnsupportedValueError('map value that is not a scalar tensor');
  }
  return v.data[0] as MapKey;
}

function describeJs(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x !== 'object') return typeof x;
  return x.constructor?.name ?? 'object';
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---------------------------------------------------------------------------------------------
// Running a case

/** The same value with a tensor's elements in reverse order: other data, at another address, that a model still accepts (indices stay in range). */
function reversed(v: Value): Value {
  if (v === null || v.kind !== 'tensor') return v;
  return { ...v, data: (v.data as unknown as { slice(): { reverse(): TensorData } }).slice().reverse() };
}

type Mismatch = (how: string, fetched: Record<string, unknown>, outputs?: ReadonlyArray<readonly [string, Value]>) => CaseResult | undefined;

/**
 * runSync() three times: the data set, the same shapes with other data (checked against run()
 * of that data), and the data set again. The later calls reuse what the one before left
 * (native/sync_reuse.h), so a reused value still holding the other call's data shows here.
 */
async function checkRunSync(
  session: Required<OrtLikeSession>,
  set: LoadedCase['dataSets'][number],
  feeds: Record<string, unknown>,
  adapter: RuntimeAdapter,
  mismatch: Mismatch,
): Promise<CaseResult | undefined> {
  const other: Record<string, unknown> = {};
  for (const [name, value] of set.inputs) other[name] = adapter.toFeed(reversed(value));
  let otherExpected: Array<readonly [string, Value]> | undefined;
  try {
    const r = await session.run(other);
    otherExpected = Object.entries(r).map(([name, v]) => [name, adapter.fromOutput(v)] as const);
  } catch {
    otherExpected = undefined; // the reversed data is not valid input for this model: skip that call
  }
  const calls = [['first call', feeds, set.outputs], ['other data', other, otherExpected], ['the first data again', feeds, set.outputs]] as const;
  for (const [how, f, outputs] of calls) {
    if (!outputs) continue;
    let fetched: Record<string, unknown>;
    try {
      fetched = session.runSync(f);
    } catch (e) {
      return { status: 'fail', reason: 'run', message: `runSync (${how}): ${message(e)}` };
    }
    const failure = mismatch(` (runSync, ${how})`, fetched, outputs);
    if (failure) return failure;
  }
  return undefined;
}

/**
 * Runs every data set of a case with one session, released afterwards.
 * The first failure ends the case.
 */
export async function runCase(c: LoadedCase, adapter: RuntimeAdapter): Promise<CaseResult> {
  const fail = (reason: FailReason, msg: string): CaseResult => {
    const unsupported = (reason === 'load' || reason === 'run') && adapter.isUnsupportedValueError(msg);
    return { status: 'fail', reason: unsupported ? 'unsupported-value' : reason, message: msg };
  };
  const unsupported = adapter.unsupportedSignature(c.signature);
  if (unsupported !== undefined) return fail('unsupported-value', unsupported);
  let session: OrtLikeSession;
  try {
    session = await adapter.createSession(c.modelPath);
  } catch (e) {
    return fail('load', message(e));
  }
  try {
    for (const set of c.dataSets) {
      const feeds: Record<string, unknown> = {};
      try {
        for (const [name, value] of set.inputs) feeds[name] = adapter.toFeed(value);
      } catch (e) {
        if (e instanceof UnsupportedValueError) return fail('unsupported-value', `input: ${e.message}`);
        throw e;
      }
      const mismatch = (how: string, fetched: Record<string, unknown>, outputs = set.outputs): CaseResult | undefined => {
        for (const [name, expected] of outputs) {
          if (!(name in fetched)) return fail('mismatch', `${set.name}${how}: output ${name} not returned`);
          let actual: Value;
          try {
            actual = adapter.fromOutput(fetched[name]);
          } catch (e) {
            if (e instanceof UnsupportedValueError) return fail('unsupported-value', `output ${name}: ${e.message}`);
            throw e;
          }
          const diff = compareValues(expected, actual, name);
          if (diff !== null) return fail('mismatch', `${set.name}${how}: ${diff}`);
        }
        return undefined;
      };
      let fetched: Record<string, unknown>;
      try {
        fetched = await session.run(feeds);
      } catch (e) {
        return fail('run', message(e));
      }
      const failure = mismatch('', fetched);
      if (failure) return failure;
      if (session.runSync) {
        const failure = await checkRunSync(session as Required<OrtLikeSession>, set, feeds, adapter, mismatch);
        if (failure) return failure;
      }
    }
    return { status: 'pass' };
  } finally {
    await session.release();
  }
}

// ---------------------------------------------------------------------------------------------
// Failure categories for known-failures.json

export const FAILURE_CATEGORIES = {
  'training-op': 'uses an ai.onnx.preview.training operator, which ONNX Runtime inference does not register',
  'ort-kernel-missing': 'ONNX Runtime has no CPU kernel for this operator version and type',
  'ort-kernel-limitation': 'the ONNX Runtime kernel refuses an attribute value at initialization',
  'host-locale-missing': 'the ONNX Runtime kernel needs a locale this host does not have installed',
  'test-data-invalid': 'the test data feeds an input a shape its model declares otherwise, which ONNX Runtime refuses',
  'random-op': 'the output is random (Bernoulli, Dropout in training mode, Random*), so no fixed value can match',
  'ort-numerics': 'ONNX Runtime itself computes a different result: onnxruntime-node fails with the identical mismatch',
  'unsupported-value': 'the runtime has no form for a value of the case',
  unexplained: 'none of the above; to be investigated',
} as const;

export type FailureCategory = keyof typeof FAILURE_CATEGORIES;

export interface KnownFailure {
  readonly category: FailureCategory;
  readonly reason: FailReason;
  readonly message: string;
}

/**
 * Sorts a failure by what its error text says. `peer` is onnxruntime-node's result on the same
 * case: a mismatch is put down to ONNX Runtime only when onnxruntime-node, which shares the
 * library but none of ortex's value handling, fails with the very same mismatch.
 */
export function categorize(
  c: LoadedCase,
  result: Extract<CaseResult, { status: 'fail' }>,
  peer: CaseResult | undefined,
): FailureCategory {
  const msg = result.message;
  switch (result.reason) {
    case 'unsupported-value':
      return 'unsupported-value';
    case 'load':
    case 'run':
      if (/ai\.onnx\.preview\.training:\w+\(-?\d+\) is not a registered function\/op/.test(msg)) {
        return 'training-op';
      }
      if (/Could not find an implementation for \w+\(\d+\)/.test(msg)) return 'ort-kernel-missing';
      if (/Failed to construct locale with name/.test(msg)) return 'host-locale-missing';
      if (/Exception during initialization: .* are not supported/.test(msg)) return 'ort-kernel-limitation';
      // The refusal must name an input whose data contradicts the model's declared shape.
      if (result.reason === 'run' && shapeConflicts(c).some((x) => msg.includes(`'${x.input}'`))) {
        return 'test-data-invalid';
      }
      return 'unexplained';
    case 'mismatch': {
      if (c.signature.randomOps.size > 0) return 'random-op';
      if (peer?.status === 'fail' && peer.reason === 'mismatch' && peer.message === msg) return 'ort-numerics';
      return 'unexplained';
    }
  }
}
