/**
 * A Triton-style model repository: which versions of which models are loaded, loading and
 * unloading them under one of Triton's model control modes, and handing requests the
 * servable they ask for.
 *
 * - `none`: every model of the repository is loaded at start; the set never changes.
 * - `explicit`: only the models named at start (`startupModels`) and those loaded through
 *   load()/unload() (the repository extension's endpoints).
 * - `poll`: like `none` at start, then the repository is scanned every `pollIntervalMs`:
 *   a new model or version is loaded, a changed model file or configuration is loaded again
 *   beside the version it replaces and swapped in once ready (warm-up included), a removed
 *   one is unloaded. When a new or changed file fails to load, the versions already serving
 *   keep serving, and the failure is logged and shown by index() until the file changes.
 *
 * A swap replaces one map entry, so a request sees either the old servable or the new one;
 * the old one is closed once the requests that picked it are answered (Servable#retire).
 * Operations on one model (load, unload, a poll's sync) run one after another.
 *
 * Threading: the event loop only.
 */

import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { OrtexError } from '../errors.js';
import { type Logger, silentLogger } from '../server/logger.js';
import { MODEL_VERSION_PATTERN, checkModelName, isModelName } from '../server/names.js';
import { readModelConfig } from './model-config.js';
import { configStamp, listModelNames, listVersions, selectVersions } from './repository-scan.js';
import { type ModelOptionsHook, Servable, loadServable } from './servable.js';

export type ModelControlMode = 'none' | 'explicit' | 'poll';
export const MODEL_CONTROL_MODES: readonly ModelControlMode[] = ['none', 'explicit', 'poll'];

export interface RepositoryOptions {
  /** Default 'none'. */
  modelControlMode?: ModelControlMode;
  /** Poll mode: time between the end of one scan and the start of the next. Default 5000. */
  pollIntervalMs?: number;
  /** Explicit mode: models to load at start ('*' for all). */
  startupModels?: readonly string[];
  /** Adjusts the createModel() options of every version loaded. */
  modelOptions?: ModelOptionsHook;
  logger?: Logger;
}

/** One row of index(): a loaded version, or a model (no version) with why it is not loaded. */
export interface IndexEntry {
  name: string;
  version?: string;
  state: 'READY' | 'LOADING' | 'UNAVAILABLE' | 'UNLOADING';
  reason?: string;
}

/** A model or version that failed to load, from start() or poll(). */
export interface LoadFailure {
  name: string;
  version?: number;
  error: Error;
}

interface ModelEntry {
  readonly name: string;
  /** Ready versions, by number: the only place requests find servables. */
  readonly serving: Map<number, Servable>;
  /** The highest ready version; 0 when none. */
  latest: number;
  readonly loading: Set<number>;
  /** Versions whose load failed, with the stamp that failed (not retried until it changes). */
  readonly failed: Map<number, { stamp: string; reason: string }>;
  /** Why the model as a whole is not loaded (configuration error, unloaded). */
  reason: string | undefined;
  /** Whether the model should be loaded (none/poll: every model found; explicit: load() called). */
  wanted: boolean;
  /** Serializes operations on this model. */
  queue: Promise<unknown>;
  /** Versions being retired (taken out of `serving`, closing). */
  unloading: number;
  /** Failed loads so far, each counted when it is reported (logged and returned), not on every poll that meets it again. */
  loadFailures: number;
}

function newEntry(name: string): ModelEntry {
  return {
    name, serving: new Map(), latest: 0, loading: new Set(), failed: new Map(), reason: undefined,
    wanted: false, queue: Promise.resolve(), unloading: 0, loadFailures: 0,
  };
}


export class ModelRepository {
  readonly root: string;
  readonly mode: ModelControlMode;
  readonly #options: RepositoryOptions;
  readonly #logger: Logger;
  readonly #entries = new Map<string, ModelEntry>();
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<LoadFailure[]> | undefined;
  #closed = false;
  #started = false;
  /** Directories skipped for a name clients could not send (names.ts), each warned about once. */
  readonly #badNames = new Set<string>();

  /**
   * Nothing is read or loaded until start().
   * @throws ERR_OPTION_INVALID for a bad mode or poll interval.
   * @example
   * const repo = new ModelRepository('models/repository', { modelControlMode: 'poll', pollIntervalMs: 2000 });
   * const failures = await repo.start();
   * const servable = repo.acquire('ctr_mlp');
   * try { await servable.model.infer(feeds); } finally { servable.release(); }
   */
  constructor(root: string, options: RepositoryOptions = {}) {
    const mode = options.modelControlMode ?? 'none';
    if (!MODEL_CONTROL_MODES.includes(mode)) {
      throw new OrtexError('ERR_OPTION_INVALID', `Expected one of ${MODEL_CONTROL_MODES.join(', ')} for modelControlMode but received ${JSON.stringify(mode)}`);
    }
    const interval = options.pollIntervalMs ?? 5000;
    if (!Number.isInteger(interval) || interval < 1) {
      throw new OrtexError('ERR_OPTION_INVALID', `Expected an integer number of ms >= 1 for pollIntervalMs but received ${interval}`);
    }
    this.root = resolve(root);
    this.mode = mode;
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
  }

  /**
   * Loads what the mode loads at start and, in poll mode, starts polling. Resolves with the
   * failures (the models that did load serve either way).
   */
  async start(): Promise<LoadFailure[]> {
    if (this.#started) throw new OrtexError('ERR_INVALID_ARG', 'The repository was already started');
    this.#started = true;
    try {
      if (!(await stat(this.root)).isDirectory()) throw new Error('not a directory');
    } catch (err) {
      throw new OrtexError('ERR_MODEL_NOT_FOUND', `Expected a model repository directory at ${this.root} but received ${(err as Error).message}`);
    }
    let failures: LoadFailure[];
    if (this.mode === 'explicit') {
      const names = this.#options.startupModels ?? [];
      const all = names.includes('*') ? await this.#modelNames() : names;
      failures = [];
      await Promise.all(all.map((name) => this.load(name).catch((error: Error) => { failures.push({ name, error }); })));
    } else {
      failures = await this.poll();
    }
    if (this.mode === 'poll') this.#schedulePoll();
    return failures;
  }

  /** True when every model that should be loaded has a ready version. */
  get ready(): boolean {
    for (const e of this.#entries.values()) if (e.wanted && e.serving.size === 0) return false;
    return true;
  }

  /** The models that should be loaded but have no ready version, by name. */
  unready(): string[] {
    return [...this.#entries.values()].filter((e) => e.wanted && e.serving.size === 0).map((e) => e.name).sort();
  }

  /**
   * The servable a request asks for, with a lease the caller must release(): `version`
   * given, that one; otherwise the highest ready version.
   * @throws ERR_MODEL_NOT_FOUND (404) for an unknown model or version; ERR_MODEL_NOT_READY
   *   (503) for a model or version that is loading, failed or unloaded.
   */
  acquire(name: string, version?: string): Servable {
    const entry = this.#entries.get(name);
    if (!entry) throw new OrtexError('ERR_MODEL_NOT_FOUND', `Unknown model '${name}'`);
    if (version === undefined || version === '') {
      const s = entry.serving.get(entry.latest);
      if (!s) throw this.#notReady(entry);
      return s.acquire();
    }
    const v = MODEL_VERSION_PATTERN.test(version) ? Number(version) : NaN;
    const s = entry.serving.get(v);
    if (s) return s.acquire();
    if (entry.loading.has(v)) throw new OrtexError('ERR_MODEL_NOT_READY', `Version ${v} of model '${name}' is loading`);
    const failed = entry.failed.get(v);
    if (failed) throw new OrtexError('ERR_MODEL_NOT_READY', `Version ${v} of model '${name}' is not available: ${failed.reason}`);
    const ready = [...entry.serving.keys()].sort((a, b) => a - b);
    throw new OrtexError('ERR_MODEL_NOT_FOUND', `Unknown version '${version}' of model '${name}'; ready versions: ${ready.join(', ') || 'none'}`);
  }

  #notReady(entry: ModelEntry): OrtexError {
    const why = entry.loading.size > 0 ? 'it is loading' : entry.reason ?? ([...entry.failed.values()][0]?.reason ?? 'no version is loaded');
    return new OrtexError('ERR_MODEL_NOT_READY', `Model '${entry.name}' is not ready: ${why}`);
  }

  /**
   * Failed loads of each model the repository knows, by name, 0 included (a Prometheus
   * counter must exist before its first increase to show it): configuration errors, missing
   * or broken model files, failed warm-ups. A failure is counted once, when reported, not again
   * on each poll that finds the same files. A model whose directory is removed is forgotten,
   * its count with it (a counter reset, if it comes back).
   */
  loadFailures(): Array<{ name: string; count: number }> {
    return [...this.#entries.values()]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((e) => ({ name: e.name, count: e.loadFailures }));
  }

  /** The ready servables (without leases), of one model or of all, by name then version. */
  servables(name?: string): Servable[] {
    const entries = name === undefined ? [...this.#entries.values()] : [this.#entries.get(name)].filter((e) => e !== undefined);
    return entries
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .flatMap((e) => [...e.serving.values()].sort((a, b) => a.version - b.version));
  }

  /** Whether the repository knows this model (found by a scan, or loaded). */
  has(name: string): boolean {
    return this.#entries.has(name);
  }

  /**
   * Every model in the repository (on disk or loaded) with its state: one row per ready,
   * loading or failed version, or one row without a version for a model with none.
   */
  async index(): Promise<IndexEntry[]> {
    const names = new Set([...await this.#modelNames(), ...this.#entries.keys()]);
    const rows: IndexEntry[] = [];
    for (const name of [...names].sort()) {
      const e = this.#entries.get(name);
      const versions = new Set([...(e?.serving.keys() ?? []), ...(e?.loading ?? []), ...(e?.failed.keys() ?? [])]);
      for (const v of [...versions].sort((a, b) => a - b)) {
        const row: IndexEntry = { name, version: String(v), state: e!.serving.has(v) ? 'READY' : e!.loading.has(v) ? 'LOADING' : 'UNAVAILABLE' };
        // A failed reload or a broken configuration is shown beside the version that serves on.
        const reason = e!.failed.get(v)?.reason ?? e!.reason;
        if (reason) row.reason = reason;
        rows.push(row);
      }
      if (versions.size === 0) {
        const row: IndexEntry = { name, state: e && e.unloading > 0 ? 'UNLOADING' : 'UNAVAILABLE' };
        row.reason = e?.reason ?? 'not loaded';
        rows.push(row);
      }
    }
    return rows;
  }

  /**
   * Loads a model (explicit mode), or loads it again from its current files when already
   * loaded: new versions beside the old ones, swapped in when ready.
   * @throws ERR_REPOSITORY_MODE outside explicit mode; ERR_MODEL_NOT_FOUND when the
   *   repository has no such directory; the load error when no version could be loaded.
   */
  async load(name: string): Promise<void> {
    this.#checkExplicit('load');
    this.#checkName(name);
    const dir = join(this.root, name);
    try {
      if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
    } catch {
      throw new OrtexError('ERR_MODEL_NOT_FOUND', `Unknown model '${name}': the repository ${this.root} has no directory of that name`);
    }
    const entry = this.#entry(name);
    entry.wanted = true;
    entry.reason = undefined;
    const failures = await this.#enqueue(entry, () => this.#sync(entry, true));
    if (failures.length > 0 && entry.serving.size === 0) {
      // A load that failed leaves the model unloaded, not the server unready.
      entry.wanted = false;
      throw failures[0]!.error;
    }
  }

  /**
   * Unloads every version of a model (explicit mode); requests already queued are answered.
   * @throws ERR_REPOSITORY_MODE outside explicit mode; ERR_MODEL_NOT_FOUND for an unknown model.
   */
  async unload(name: string): Promise<void> {
    this.#checkExplicit('unload');
    this.#checkName(name);
    const entry = this.#entries.get(name);
    if (!entry) throw new OrtexError('ERR_MODEL_NOT_FOUND', `Unknown model '${name}'`);
    entry.wanted = false;
    await this.#enqueue(entry, async () => {
      entry.failed.clear();
      entry.reason = 'unloaded';
      await this.#retire(entry, [...entry.serving.keys()]);
    });
  }

  /**
   * Scans the repository once (what poll mode does on its timer; start() in none mode):
   * loads new models and versions, reloads changed ones, unloads removed ones. Resolves with
   * what failed in this scan (a failure already reported for the same files is not repeated).
   */
  poll(): Promise<LoadFailure[]> {
    if (this.#closed) return Promise.resolve([]);
    this.#polling ??= this.#scan().finally(() => { this.#polling = undefined; });
    return this.#polling;
  }

  /** Stops polling and closes every model, answering what is queued. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#polling?.catch(() => {});
    await Promise.all([...this.#entries.values()].map((e) => this.#enqueue(e, () => this.#retire(e, [...e.serving.keys()]))));
  }

  async #scan(): Promise<LoadFailure[]> {
    let names: string[];
    try {
      names = await this.#modelNames();
    } catch (err) {
      this.#logger.error({ err, repository: this.root }, 'could not list the model repository');
      return [];
    }
    const failures: LoadFailure[] = [];
    const present = new Set(names);
    await Promise.all([
      ...names.map((name) => {
        const entry = this.#entry(name);
        entry.wanted = true;
        return this.#enqueue(entry, () => this.#sync(entry, false)).then((f) => { failures.push(...f); });
      }),
      ...[...this.#entries.values()].filter((e) => !present.has(e.name)).map((e) =>
        this.#enqueue(e, async () => {
          this.#logger.info({ model: e.name }, 'model directory removed: unloading');
          e.wanted = false;
          await this.#retire(e, [...e.serving.keys()]);
          if (!e.wanted && e.serving.size === 0) this.#entries.delete(e.name);
        }),
      ),
    ]);
    return failures;
  }

  #schedulePoll(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.poll().catch((err: unknown) => this.#logger.error({ err }, 'repository poll failed')).finally(() => this.#schedulePoll());
    }, this.#options.pollIntervalMs ?? 5000);
    this.#timer.unref();
  }

  /**
   * Brings one model in line with its files: loads the versions its policy wants whose
   * configuration or model file changed (or that are new), swaps each in when ready, and
   * retires the versions no longer wanted once some wanted version serves. `retry` loads
   * again versions whose last load failed with the same files.
   */
  async #sync(entry: ModelEntry, retry: boolean): Promise<LoadFailure[]> {
    if (this.#closed || !entry.wanted) return [];
    const { name } = entry;
    const dir = join(this.root, name);
    const previous = entry.reason;
    // A model-level failure is reported once, not on every poll, until it changes.
    const fail = (error: Error): LoadFailure[] => {
      entry.reason = error.message;
      if (previous === error.message && !retry) return [];
      entry.loadFailures++;
      const serving = entry.serving.size > 0 ? ': the loaded versions keep serving' : ': model not loaded';
      this.#logger.warn({ model: name, err: error }, `${(error as { code?: string }).code === 'ERR_MODEL_CONFIG' ? 'configuration error' : 'no version to load'}${serving}`);
      return [{ name, error }];
    };
    const cfgStamp = await configStamp(dir);
    let config;
    try {
      config = await readModelConfig(dir);
    } catch (error) {
      return fail(error as Error);
    }
    const onDisk = await listVersions(dir, config.defaultModelFilename);
    const wanted = selectVersions(config.versionPolicy, onDisk.map((v) => v.version));
    if (wanted.length === 0) {
      return fail(new OrtexError('ERR_MODEL_NOT_FOUND', `${dir}: Expected a version directory (a number, e.g. 1/) holding ${config.defaultModelFilename} but received none`));
    }
    entry.reason = undefined;
    const failures: LoadFailure[] = [];
    await Promise.all(wanted.map(async (version) => {
      const found = onDisk.find((v) => v.version === version);
      const modelPath = found?.modelPath ?? join(dir, String(version), config.defaultModelFilename);
      const stamp = `${cfgStamp}|${found?.stamp ?? ''}`;
      if (entry.serving.get(version)?.stamp === stamp) return;
      if (!retry && entry.failed.get(version)?.stamp === stamp) return;
      entry.loading.add(version);
      try {
        const servable = await loadServable(config, dir, version, modelPath, stamp, this.#options.modelOptions, (m) => this.#logger.info({ model: name, version }, m));
        if (this.#closed) {
          await servable.retire();
          return;
        }
        const old = entry.serving.get(version);
        entry.serving.set(version, servable); // the swap: requests from now on get the new one
        entry.latest = Math.max(...entry.serving.keys());
        entry.failed.delete(version);
        this.#logger.info({ model: name, version, path: modelPath, loadMs: Math.round(servable.loadMs) }, old ? 'model version reloaded and swapped in' : 'model version loaded');
        if (old) await this.#retireServable(entry, old);
      } catch (error) {
        entry.failed.set(version, { stamp, reason: (error as Error).message });
        entry.loadFailures++;
        this.#logger.warn({ model: name, version, err: error }, entry.serving.has(version) ? 'load failed: the loaded file keeps serving' : 'load failed');
        failures.push({ name, version, error: error as Error });
      } finally {
        entry.loading.delete(version);
      }
    }));
    // Versions the policy no longer wants go once a wanted one serves; until then they
    // serve on (a broken new version must not take the model down).
    if (wanted.some((v) => entry.serving.has(v))) {
      await this.#retire(entry, [...entry.serving.keys()].filter((v) => !wanted.includes(v)));
    }
    for (const v of entry.failed.keys()) if (!wanted.includes(v)) entry.failed.delete(v);
    return failures;
  }

  async #retire(entry: ModelEntry, versions: number[]): Promise<void> {
    await Promise.all(versions.map((v) => {
      const s = entry.serving.get(v);
      if (!s) return undefined;
      entry.serving.delete(v);
      entry.latest = entry.serving.size > 0 ? Math.max(...entry.serving.keys()) : 0;
      this.#logger.info({ model: entry.name, version: v }, 'model version unloaded');
      return this.#retireServable(entry, s);
    }));
  }

  async #retireServable(entry: ModelEntry, s: Servable): Promise<void> {
    entry.unloading++;
    try {
      await s.retire();
    } finally {
      entry.unloading--;
    }
  }

  #entry(name: string): ModelEntry {
    let e = this.#entries.get(name);
    if (!e) {
      e = newEntry(name);
      this.#entries.set(name, e);
    }
    return e;
  }

  #enqueue<T>(entry: ModelEntry, op: () => Promise<T>): Promise<T> {
    const run = entry.queue.then(op, op);
    entry.queue = run.catch(() => {});
    return run;
  }

  #checkExplicit(what: string): void {
    if (this.mode !== 'explicit') {
      throw new OrtexError('ERR_REPOSITORY_MODE', `Model ${what} is only available in explicit model control mode; this repository runs in ${this.mode} mode`);
    }
  }

  /** Before the name is joined to the root: nothing outside the repository can be named (names.ts). */
  #checkName(name: string): void {
    if (typeof name !== 'string') throw new OrtexError('ERR_MODEL_NAME', `Expected a model name string but received ${typeof name}`);
    checkModelName(name);
  }

  /** The model directories whose names clients can send; the others are skipped with a warning. */
  async #modelNames(): Promise<string[]> {
    const names = await listModelNames(this.root);
    const good = names.filter(isModelName);
    if (good.length < names.length) {
      for (const name of names) {
        if (isModelName(name) || this.#badNames.has(name)) continue;
        this.#badNames.add(name);
        this.#logger.warn({ model: name, repository: this.root }, 'skipping a model directory whose name is not allowed (letters, digits, _ . - only, at most 128, no ..)');
      }
    }
    return good;
  }
}

export { Servable };
export type { ModelOptionsHook };
