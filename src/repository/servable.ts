/**
 * A servable: one version of one model, loaded (createModel with the options its
 * configuration gives), checked against its configuration, warmed up, and then either
 * serving or retired. Requests hold a lease on it from the moment they pick it until their
 * model call is queued, so a version swapped out or unloaded is closed only after every
 * request that chose it has been answered.
 *
 * Threading: the event loop only.
 */

import { dtypeByName } from '../dtypes.js';
import { OrtexError, fromNative, isErrorCode } from '../errors.js';
import type { ValueMetadata } from '../feeds.js';
import type { ModelOptions } from '../model-options.js';
import { createModel } from '../model.js';
import { checkConfigAgainstModel } from './config-check.js';
import type { ModelConfig } from './model-config-types.js';
import { toModelOptions, validateModelOptions } from './model-options.js';
import { type ServedModel, UnbatchedModel } from './unbatched-model.js';
import { warmUp } from './warmup.js';

/** A count and a total duration, as Triton's statistics keep them. */
export interface Duration {
  count: number;
  ns: number;
}

/**
 * Statistics the server keeps per servable beside the batcher's own (Model#stats()):
 * end-to-end request outcomes and the server's share of the work around the model call.
 */
export interface ServableRequestStats {
  success: Duration;
  fail: Duration;
  /** Parsing the request and building the feeds. */
  computeInput: Duration;
  /** Encoding the response. */
  computeOutput: Duration;
  cacheHit: Duration;
  cacheMiss: Duration;
  /** Date.now() of the last request answered, 0 before any. */
  lastInferenceMs: number;
}

const duration = (): Duration => ({ count: 0, ns: 0 });

/** Lets a caller change the options of each model the repository loads (e.g. thread counts). */
export type ModelOptionsHook = (options: ModelOptions, servable: { name: string; version: number; config: ModelConfig }) => ModelOptions;

export class Servable {
  readonly requestStats: ServableRequestStats = {
    success: duration(), fail: duration(), computeInput: duration(), computeOutput: duration(),
    cacheHit: duration(), cacheMiss: duration(), lastInferenceMs: 0,
  };
  /** Version as a string, as the protocol sends it. */
  readonly versionText: string;
  /** How long loading took, warm-up included, in ms (set by loadServable()). */
  loadMs = 0;
  #leases = 0;
  #retired: (() => void) | undefined;
  #closing: Promise<void> | undefined;

  /**
   * @param stamp identifies the configuration and model file this was loaded from, so a
   *   poll can tell whether either changed.
   */
  constructor(
    readonly name: string,
    readonly version: number,
    readonly config: ModelConfig,
    /** The batched Model, or an UnbatchedModel for what the batcher cannot stage. */
    readonly model: ServedModel,
    readonly modelPath: string,
    readonly stamp: string,
  ) {
    this.versionText = String(version);
  }

  /** Requests holding this servable now. */
  get leases(): number {
    return this.#leases;
  }

  /** Takes a lease; pair with release(). */
  acquire(): this {
    this.#leases++;
    return this;
  }

  release(): void {
    if (--this.#leases === 0 && this.#retired) this.#retired();
  }

  /**
   * Closes the model once no request holds a lease, draining what it has queued. Called
   * after the servable was taken out of the repository, so no new lease can be taken.
   */
  retire(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#leases > 0) await new Promise<void>((resolve) => { this.#retired = resolve; });
      await this.model.close({ drain: true });
    })();
    return this.#closing;
  }
}

/** Prefixes a load error with the servable it is about, keeping its code. */
function loadError(name: string, version: number, path: string, err: unknown): OrtexError {
  const e = fromNative(err);
  const message = e.message.includes(path) || e.code === 'ERR_MODEL_CONFIG' ? e.message : `${path}: ${e.message}`;
  return new OrtexError(isErrorCode(e.code) ? e.code : 'ERR_ORT_FAIL', `Could not load version ${version} of model '${name}': ${message}`, { cause: err });
}

/** Whether the batcher cannot stage this model's values (strings, sub-byte types, non-tensors). */
function needsUnbatched(inputs: readonly ValueMetadata[], outputs: readonly ValueMetadata[]): boolean {
  const unstageable = (v: ValueMetadata) => !v.isTensor || v.type === 'string' || (dtypeByName(v.type)?.bits ?? 8) < 8;
  return inputs.some(unstageable) || outputs.some((v) => !v.isTensor);
}

/**
 * createModel(), or for a model the batcher refuses because of its value types (string
 * inputs, ...) an UnbatchedModel. Any other refusal (e.g. no dynamic batch dim with
 * max_batch_size > 0) is the configuration's to fix and is thrown.
 */
async function loadModel(path: string, options: ModelOptions): Promise<{ model: ServedModel; batched: boolean }> {
  try {
    return { model: await createModel(path, options), batched: true };
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_MODEL_NOT_BATCHABLE') throw err;
    const model = await UnbatchedModel.create(path, options);
    if (needsUnbatched(model.inputMetadata, model.outputMetadata)) return { model, batched: false };
    await model.close();
    throw err;
  }
}

/**
 * Loads one version: options from the configuration (through `hook`, then createModel's
 * validation, errors naming the configuration field), the model, the configuration checked
 * against the model, then warm-up. Resolves when the servable is ready to serve.
 * @param onUnbatched told when the model runs without the batcher (see UnbatchedModel).
 * @throws with the code of what failed (ERR_MODEL_CONFIG, ERR_MODEL_NOT_FOUND, ERR_MODEL_INVALID, ...),
 *   the message naming the model, the version and the file.
 */
export async function loadServable(
  config: ModelConfig,
  modelDir: string,
  version: number,
  modelPath: string,
  stamp: string,
  hook: ModelOptionsHook | undefined,
  onUnbatched?: (message: string) => void,
): Promise<Servable> {
  const name = config.name;
  const startMs = performance.now();
  let model: ServedModel;
  try {
    let options = toModelOptions(config);
    if (hook) options = hook(options, { name, version, config });
    const loaded = await loadModel(modelPath, validateModelOptions(config, options));
    model = loaded.model;
    if (!loaded.batched) {
      onUnbatched?.(`version ${version} of model '${name}' runs without the dynamic batcher (it cannot stage string, sub-byte or non-tensor values): each request runs on its own`);
    }
  } catch (err) {
    throw loadError(name, version, modelPath, err);
  }
  try {
    checkConfigAgainstModel(config, model);
    await warmUp(config, modelDir, model);
  } catch (err) {
    await model.close({ drain: false });
    throw loadError(name, version, modelPath, err);
  }
  const servable = new Servable(name, version, config, model, modelPath, stamp);
  servable.loadMs = performance.now() - startMs;
  return servable;
}
