// The model repository: Triton's layout and version policies, the three model control
// modes (none, explicit, poll with atomic swaps that survive broken files), warm-up before
// readiness, and configuration errors that name the file, the field and what was expected.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ModelRepository } from '../src/repository/repository.js';
import { selectVersions } from '../src/repository/repository-scan.js';
import type { Servable } from '../src/repository/servable.js';
import { Tensor } from '../src/tensor.js';
import { ONE_THREAD, TempRepository, probeConfig } from './fixtures/model-repository.js';

const x = (v: number, rows = 1) => ({ x: new Tensor('float64', new Float64Array(rows).fill(v), [rows, 1]) });
const errorOf = (f: () => unknown): { code?: string; message: string; status?: number } => {
  try {
    f();
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected an error');
};
const rejectionOf = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a rejection'); }, (e: { code?: string; message: string }) => e);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Acquires, reads, releases. */
function versionOf(r: ModelRepository, name: string, version?: string): number {
  const s = r.acquire(name, version);
  s.release();
  return s.version;
}

describe('selectVersions()', () => {
  it('picks the latest N, all, or the listed versions', () => {
    expect(selectVersions({ kind: 'latest', numVersions: 1 }, [1, 2, 5])).toEqual([5]);
    expect(selectVersions({ kind: 'latest', numVersions: 2 }, [1, 2, 5])).toEqual([2, 5]);
    expect(selectVersions({ kind: 'latest', numVersions: 9 }, [3])).toEqual([3]);
    expect(selectVersions({ kind: 'all' }, [1, 2, 5])).toEqual([1, 2, 5]);
    expect(selectVersions({ kind: 'specific', versions: [5, 1, 7] }, [1, 2, 5])).toEqual([1, 5, 7]);
  });
});

describe('ModelRepository in none mode', () => {
  let repo: TempRepository;
  let r: ModelRepository;
  beforeAll(async () => {
    repo = await TempRepository.create();
    await repo.config('probe', probeConfig('probe', 'version_policy { latest { num_versions: 2 } } dynamic_batching { }'));
    for (const v of [1, 2, 3]) await repo.version('probe', v, 'batch_probe');
    await repo.file('probe/warmup/readme.txt', 'not a version');
    await repo.file('probe/0/model.onnx', 'ignored: version 0');
    await repo.file('probe/01/model.onnx', 'ignored: a leading zero');
    await repo.config('bare', undefined); // no configuration: Triton's defaults, no batching
    await repo.version('bare', 1, 'identity_float32');
    await repo.config('everything', probeConfig('everything', 'version_policy { all { } }'));
    for (const v of [1, 2]) await repo.version('everything', v, 'batch_probe');
    await repo.config('picked', probeConfig('picked', 'version_policy { specific { versions: [1, 3] } }'));
    for (const v of [1, 2, 3]) await repo.version('picked', v, 'batch_probe');
    r = new ModelRepository(repo.root, { modelOptions: ONE_THREAD });
    expect(await r.start()).toEqual([]);
  });
  afterAll(async () => {
    await r?.close();
    await repo?.dispose();
  });

  it('loads every model at start with its version policy, ignoring what is not a version directory', async () => {
    expect(r.ready).toBe(true);
    expect(await r.index()).toEqual([
      { name: 'bare', version: '1', state: 'READY' },
      { name: 'everything', version: '1', state: 'READY' },
      { name: 'everything', version: '2', state: 'READY' },
      { name: 'picked', version: '1', state: 'READY' },
      { name: 'picked', version: '3', state: 'READY' },
      { name: 'probe', version: '2', state: 'READY' },
      { name: 'probe', version: '3', state: 'READY' },
    ]);
    expect(r.servables().map((s) => `${s.name}/${s.version}`)).toEqual(['bare/1', 'everything/1', 'everything/2', 'picked/1', 'picked/3', 'probe/2', 'probe/3']);
  });

  it('hands out the latest ready version, or the one asked for', () => {
    expect(versionOf(r, 'probe')).toBe(3);
    expect(versionOf(r, 'probe', '2')).toBe(2);
    expect(versionOf(r, 'probe', '')).toBe(3);
    expect(versionOf(r, 'picked')).toBe(3);
  });

  it('refuses unknown models and versions with ERR_MODEL_NOT_FOUND (404)', () => {
    expect(errorOf(() => r.acquire('nope'))).toMatchObject({ code: 'ERR_MODEL_NOT_FOUND', status: 404, message: "Unknown model 'nope'" });
    expect(errorOf(() => r.acquire('probe', '1'))).toMatchObject({ code: 'ERR_MODEL_NOT_FOUND', message: "Unknown version '1' of model 'probe'; ready versions: 2, 3" });
    expect(errorOf(() => r.acquire('probe', 'latest'))).toMatchObject({ code: 'ERR_MODEL_NOT_FOUND' });
    expect(errorOf(() => r.acquire('picked', '2'))).toMatchObject({ code: 'ERR_MODEL_NOT_FOUND' });
  });

  it('runs the configuration through createModel: batching from the configuration, none without one', async () => {
    const probe = r.acquire('probe');
    const bare = r.acquire('bare');
    try {
      expect(probe.model.maxBatchSize).toBe(8);
      expect(probe.config.configFile).toMatch(/probe\/config\.pbtxt$/);
      expect(bare.model.maxBatchSize).toBe(0);
      const out = await probe.model.infer(x(4, 2));
      expect(Array.from(out.sum!.data as Float64Array)).toEqual([8, 8]);
      const id = await bare.model.infer({ x: new Tensor('float32', new Float32Array([1, 2, 3]), [1, 3]) });
      expect(Array.from(id.y!.data as Float32Array)).toEqual([1, 2, 3]);
    } finally {
      probe.release();
      bare.release();
    }
  });

  it('refuses load and unload outside explicit mode with ERR_REPOSITORY_MODE', async () => {
    expect(await rejectionOf(r.load('probe'))).toMatchObject({ code: 'ERR_REPOSITORY_MODE', message: expect.stringMatching(/only available in explicit model control mode; this repository runs in none mode/) });
    expect(await rejectionOf(r.unload('probe'))).toMatchObject({ code: 'ERR_REPOSITORY_MODE' });
  });
});

describe('ModelRepository in explicit mode', () => {
  let repo: TempRepository;
  let r: ModelRepository;
  beforeAll(async () => {
    repo = await TempRepository.create();
    await repo.config('probe', probeConfig('probe'));
    await repo.version('probe', 1, 'batch_probe');
    await repo.config('other', probeConfig('other'));
    await repo.version('other', 1, 'batch_probe');
    await repo.config('empty', probeConfig('empty'));
    r = new ModelRepository(repo.root, { modelControlMode: 'explicit', startupModels: ['other'], modelOptions: ONE_THREAD });
    expect(await r.start()).toEqual([]);
  });
  afterAll(async () => {
    await r?.close();
    await repo?.dispose();
  });

  it('loads only the startup models, and lists the others as not loaded', async () => {
    expect(await r.index()).toEqual([
      { name: 'empty', state: 'UNAVAILABLE', reason: 'not loaded' },
      { name: 'other', version: '1', state: 'READY' },
      { name: 'probe', state: 'UNAVAILABLE', reason: 'not loaded' },
    ]);
    expect(errorOf(() => r.acquire('probe'))).toMatchObject({ code: 'ERR_MODEL_NOT_FOUND' });
  });

  it('loads and unloads on request; an unloaded model is not ready (503) until loaded again', async () => {
    await r.load('probe');
    expect(versionOf(r, 'probe')).toBe(1);
    await r.unload('probe');
    expect(errorOf(() => r.acquire('probe'))).toMatchObject({ code: 'ERR_MODEL_NOT_READY', status: 503, message: "Model 'probe' is not ready: unloaded" });
    expect((await r.index()).find((e) => e.name === 'probe')).toEqual({ name: 'probe', state: 'UNAVAILABLE', reason: 'unloaded' });
    expect(r.ready).toBe(true); // an unloaded model is not wanted
    await r.load('probe');
    expect(versionOf(r, 'probe')).toBe(1);
  });

  it('answers the requests already queued before an unload completes', async () => {
    await r.load('probe');
    const s = r.acquire('probe');
    s.model.holdUntil(3);
    const queued = [1, 2, 3].map((v) => s.model.infer(x(v)));
    s.release();
    const unloading = r.unload('probe');
    const outs = await Promise.all(queued);
    expect(outs.map((o) => (o.size!.data as Float64Array)[0])).toEqual([3, 3, 3]);
    await unloading;
    expect(await rejectionOf(s.model.infer(x(1)))).toMatchObject({ code: 'ERR_MODEL_CLOSED' });
  });

  it('waits for requests holding a lease before closing an unloaded version', async () => {
    await r.load('probe');
    const s = r.acquire('probe');
    let closed = false;
    const unloading = r.unload('probe').then(() => { closed = true; });
    await sleep(20);
    expect(closed).toBe(false); // still leased: the request may not have queued yet
    const out = await s.model.infer(x(5));
    s.release();
    await unloading;
    expect(closed).toBe(true);
    expect((out.y!.data as Float64Array)[0]).toBe(5);
  });

  it('refuses unknown, unsafe and version-less models, naming what was expected', async () => {
    expect(await rejectionOf(r.load('missing'))).toMatchObject({ code: 'ERR_MODEL_NOT_FOUND', message: expect.stringMatching(/Unknown model 'missing': the repository .* has no directory of that name/) });
    expect(await rejectionOf(r.load('../probe'))).toMatchObject({ code: 'ERR_MODEL_NAME', message: expect.stringMatching(/^Expected a model name of 1 to 128 letters/) });
    expect(await rejectionOf(r.load('/etc'))).toMatchObject({ code: 'ERR_MODEL_NAME' });
    expect(await rejectionOf(r.unload('..'))).toMatchObject({ code: 'ERR_MODEL_NAME' });
    expect(await rejectionOf(r.load('empty'))).toMatchObject({ code: 'ERR_MODEL_NOT_FOUND', message: expect.stringMatching(/empty: Expected a version directory \(a number, e\.g\. 1\/\) holding model\.onnx but received none/) });
    expect(await rejectionOf(r.unload('missing'))).toMatchObject({ code: 'ERR_MODEL_NOT_FOUND' });
  });
});

describe('ModelRepository warm-up', () => {
  let repo: TempRepository;
  let r: ModelRepository | undefined;
  beforeAll(async () => {
    repo = await TempRepository.create();
  });
  afterEach(async () => {
    await r?.close();
    r = undefined;
  });
  afterAll(async () => {
    await repo?.dispose();
  });

  const warmup = (data: string, batch = 3, count = 2) =>
    `model_warmup [ { name: "w" batch_size: ${batch} count: ${count} inputs { key: "x" value { data_type: TYPE_FP64 dims: [ 1 ] ${data} } } } ]`;

  it('runs every warm-up sample count times before the model is ready', async () => {
    await repo.config('warm', probeConfig('warm', warmup('random_data: true')));
    await repo.version('warm', 1, 'batch_probe');
    r = new ModelRepository(repo.root, { modelOptions: ONE_THREAD });
    expect(await r.start()).toEqual([]);
    const s = r.acquire('warm');
    s.release();
    expect(s.model.stats()).toMatchObject({ completed: 2, rows: 6, batchSizes: [0, 0, 0, 2] });
    await repo.remove('warm');
  });

  it('is not ready while warm-up runs (503), and ready once they are done', async () => {
    await repo.config('slow', `max_batch_size: 0
      model_warmup [ { name: "w" count: 2 inputs { key: "x" value { data_type: TYPE_FP32 dims: [ 1, 512 ] zero_data: true } } } ]`);
    await repo.version('slow', 1, 'slow_matmul');
    r = new ModelRepository(repo.root, { modelOptions: ONE_THREAD });
    const starting = r.start();
    let sawLoading = false;
    for (let i = 0; i < 200 && !sawLoading; i++) {
      await sleep(2);
      sawLoading = (await r.index()).some((e) => e.state === 'LOADING');
    }
    expect(sawLoading).toBe(true);
    expect(errorOf(() => r!.acquire('slow'))).toMatchObject({ code: 'ERR_MODEL_NOT_READY', message: "Model 'slow' is not ready: it is loading" });
    expect(r.ready).toBe(false);
    expect(await starting).toEqual([]);
    const s = r.acquire('slow');
    s.release();
    expect(s.model.stats().completed).toBe(2); // both runs done before it was handed out
    await repo.remove('slow');
  });

  it('reads warm-up data from the warmup/ folder, and names the field of a file that does not fit', async () => {
    await repo.config('file', probeConfig('file', warmup('input_data_file: "x.bin"', 3, 1)));
    await repo.version('file', 1, 'batch_probe');
    await repo.file('file/warmup/x.bin', new Uint8Array(new Float64Array([1, 2, 4]).buffer));
    await repo.config('short', probeConfig('short', warmup('input_data_file: "x.bin"', 3, 1)));
    await repo.version('short', 1, 'batch_probe');
    await repo.file('short/warmup/x.bin', new Uint8Array(16));
    r = new ModelRepository(repo.root, { modelOptions: ONE_THREAD });
    const failures = await r.start();
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ name: 'short', version: 1 });
    expect(failures[0]!.error).toMatchObject({
      code: 'ERR_MODEL_CONFIG',
      message: expect.stringMatching(/short\/config\.pbtxt: Expected binary_data_size 24 \(3 elements of FP64\) for the warm-up file .*short\/warmup\/x\.bin but received binary_data_size 16 \(model_warmup\[0\]\.inputs\["x"\]\.input_data_file\)/),
    });
    const s = r.acquire('file');
    s.release();
    expect(s.model.stats()).toMatchObject({ completed: 1, rows: 3 });
    await repo.remove('file');
    await repo.remove('short');
  });
});

describe('ModelRepository configuration and model errors', () => {
  let repo: TempRepository;
  let r: ModelRepository;
  let failures: Awaited<ReturnType<ModelRepository['start']>>;
  beforeAll(async () => {
    repo = await TempRepository.create();
    const bad: Record<string, string> = {
      wrong_name: 'max_batch_size: 8 input [ { name: "z" data_type: TYPE_FP64 dims: [ 1 ] } ]',
      wrong_type: 'max_batch_size: 8 input [ { name: "x" data_type: TYPE_FP32 dims: [ 1 ] } ]',
      wrong_dims: 'max_batch_size: 8 input [ { name: "x" data_type: TYPE_FP64 dims: [ 2 ] } ]',
      too_many_instances: 'max_batch_size: 8 instance_group [ { count: 300 kind: KIND_CPU } ]',
      syntax: 'max_batch_size: 8 dynamic_batching {',
      no_file: 'max_batch_size: 8',
      not_onnx: 'max_batch_size: 8',
    };
    for (const [name, config] of Object.entries(bad)) {
      await repo.config(name, config);
      if (name === 'not_onnx') await repo.brokenVersion(name, 1);
      else if (name === 'no_file') await repo.file('no_file/1/README', 'the model file is missing');
      else await repo.version(name, 1, 'batch_probe');
    }
    await repo.config('good', probeConfig('good'));
    await repo.version('good', 1, 'batch_probe');
    r = new ModelRepository(repo.root, { modelOptions: ONE_THREAD });
    failures = await r.start();
  });
  afterAll(async () => {
    await r?.close();
    await repo?.dispose();
  });

  const failure = (name: string) => failures.find((f) => f.name === name)?.error as { code?: string; message: string };

  it('still loads the good models, and is not ready while some fail', () => {
    expect(failures.map((f) => f.name).sort()).toEqual(['no_file', 'not_onnx', 'syntax', 'too_many_instances', 'wrong_dims', 'wrong_name', 'wrong_type']);
    expect(versionOf(r, 'good')).toBe(1);
    expect(r.ready).toBe(false);
    expect(r.unready()).toEqual(['no_file', 'not_onnx', 'syntax', 'too_many_instances', 'wrong_dims', 'wrong_name', 'wrong_type']);
  });

  it('checks the configuration against the model: names, element types and dims', () => {
    expect(failure('wrong_name')).toMatchObject({ code: 'ERR_MODEL_CONFIG', message: expect.stringMatching(/wrong_name\/config\.pbtxt: Expected an input of the model \(x\) for input\[0\]\.name but received string "z"/) });
    expect(failure('wrong_type').message).toMatch(/wrong_type\/config\.pbtxt: Expected the element type of the model's input 'x' \(float64\) for input\[0\]\.data_type but received TYPE_FP32 \(float32\)/);
    expect(failure('wrong_dims').message).toMatch(/wrong_dims\/config\.pbtxt: Expected 1 dims matching the model's input 'x' \[N,1\] less its batch dim for input\[0\]\.dims\[0\] but received number 2/);
  });

  it("names the configuration field behind an option createModel refuses", () => {
    expect(failure('too_many_instances')).toMatchObject({
      code: 'ERR_MODEL_CONFIG',
      message: expect.stringMatching(/too_many_instances\/config\.pbtxt: Expected an integer from 1 to 256 for instance_group\[\]\.count \(summed\) \(instances\) but received number 300/),
    });
  });

  it('names the file and position of a syntax error, and the path of a missing or broken model file', () => {
    expect(failure('syntax')).toMatchObject({ code: 'ERR_MODEL_CONFIG', message: expect.stringMatching(/syntax\/config\.pbtxt:1:\d+: Expected a field name or '\}' but received the end of the file/) });
    expect(failure('no_file')).toMatchObject({ code: 'ERR_MODEL_NOT_FOUND', message: expect.stringMatching(/Could not load version 1 of model 'no_file': .*no_file\/1\/model\.onnx/) });
    expect(failure('not_onnx')).toMatchObject({ code: 'ERR_MODEL_INVALID', message: expect.stringMatching(/Could not load version 1 of model 'not_onnx': .*not_onnx\/1\/model\.onnx: it is not a valid ONNX model/) });
  });

  it('reports each failure in the index and answers requests for the model with 503 and the reason', async () => {
    const index = await r.index();
    expect(index.find((e) => e.name === 'syntax')).toMatchObject({ state: 'UNAVAILABLE', reason: expect.stringMatching(/syntax\/config\.pbtxt:1:\d+: /) });
    expect(index.find((e) => e.name === 'not_onnx')).toMatchObject({ version: '1', state: 'UNAVAILABLE', reason: expect.stringMatching(/not a valid ONNX model/) });
    expect(errorOf(() => r.acquire('not_onnx'))).toMatchObject({ code: 'ERR_MODEL_NOT_READY', message: expect.stringMatching(/Model 'not_onnx' is not ready: Could not load version 1/) });
    expect(errorOf(() => r.acquire('not_onnx', '1'))).toMatchObject({ code: 'ERR_MODEL_NOT_READY', message: expect.stringMatching(/Version 1 of model 'not_onnx' is not available: /) });
  });
});

describe('ModelRepository in poll mode', () => {
  let repo: TempRepository;
  let r: ModelRepository;
  beforeAll(async () => {
    repo = await TempRepository.create();
    await repo.config('p', probeConfig('p'));
    await repo.version('p', 1, 'batch_probe');
    // Polls are driven by hand here (one long interval); the last test checks the timer.
    r = new ModelRepository(repo.root, { modelControlMode: 'poll', pollIntervalMs: 3_600_000, modelOptions: ONE_THREAD });
    expect(await r.start()).toEqual([]);
  });
  afterAll(async () => {
    await r?.close();
    await repo?.dispose();
  });

  it('loads a new version beside the old one and swaps it in, then retires the old one', async () => {
    const v1 = r.acquire('p');
    v1.release();
    await repo.version('p', 2, 'batch_probe');
    expect(await r.poll()).toEqual([]);
    expect(versionOf(r, 'p')).toBe(2);
    expect(await r.index()).toEqual([{ name: 'p', version: '2', state: 'READY' }]);
    expect(await rejectionOf(v1.model.infer(x(1)))).toMatchObject({ code: 'ERR_MODEL_CLOSED' });
  });

  it('swaps atomically: a steady stream of requests all succeed across the swap', async () => {
    let stop = false;
    let answered = 0;
    const served = new Set<number>();
    const errors: unknown[] = [];
    const client = async () => {
      while (!stop) {
        let s: Servable;
        try {
          s = r.acquire('p');
        } catch (err) {
          errors.push(err);
          continue;
        }
        try {
          served.add(s.version);
          await s.model.infer(x(1));
          answered++;
        } catch (err) {
          errors.push(err);
        } finally {
          s.release();
        }
      }
    };
    const clients = [client(), client(), client()];
    await sleep(20);
    await repo.version('p', 3, 'batch_probe');
    expect(await r.poll()).toEqual([]);
    await sleep(20);
    stop = true;
    await Promise.all(clients);
    expect(errors).toEqual([]);
    expect([...served].sort()).toEqual([2, 3]);
    expect(answered).toBeGreaterThan(10);
    expect(versionOf(r, 'p')).toBe(3);
  });

  it('keeps the old version serving when a new file is broken, reports it once, and loads it once fixed', async () => {
    await repo.brokenVersion('p', 4);
    const failures = await r.poll();
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ name: 'p', version: 4, error: { code: 'ERR_MODEL_INVALID' } });
    expect(versionOf(r, 'p')).toBe(3);
    expect(await r.index()).toEqual([
      { name: 'p', version: '3', state: 'READY' },
      { name: 'p', version: '4', state: 'UNAVAILABLE', reason: expect.stringMatching(/p\/4\/model\.onnx: it is not a valid ONNX model/) },
    ]);
    expect(errorOf(() => r.acquire('p', '4'))).toMatchObject({ code: 'ERR_MODEL_NOT_READY' });
    expect(await r.poll()).toEqual([]); // the same broken file is not reported again
    await repo.version('p', 4, 'batch_probe');
    expect(await r.poll()).toEqual([]);
    expect(versionOf(r, 'p')).toBe(4);
    expect(await r.index()).toEqual([{ name: 'p', version: '4', state: 'READY' }]);
  });

  it('reloads a version whose model file was replaced, and keeps the loaded one when the replacement is broken', async () => {
    const before = r.acquire('p');
    before.release();
    await repo.version('p', 4, 'batch_probe'); // same content, new file
    expect(await r.poll()).toEqual([]);
    const after = r.acquire('p');
    after.release();
    expect(after).not.toBe(before);
    expect(after.version).toBe(4);
    expect(await rejectionOf(before.model.infer(x(1)))).toMatchObject({ code: 'ERR_MODEL_CLOSED' });

    await repo.brokenVersion('p', 4);
    expect(await r.poll()).toMatchObject([{ name: 'p', version: 4, error: { code: 'ERR_MODEL_INVALID' } }]);
    const still = r.acquire('p');
    still.release();
    expect(still).toBe(after);
    expect(await r.index()).toEqual([{ name: 'p', version: '4', state: 'READY', reason: expect.stringMatching(/not a valid ONNX model/) }]);
    await repo.version('p', 4, 'batch_probe');
    expect(await r.poll()).toEqual([]);
    expect(await r.index()).toEqual([{ name: 'p', version: '4', state: 'READY' }]);
  });

  it('reloads on a configuration change, and serves on with the old one when the new one is broken', async () => {
    const before = r.acquire('p');
    before.release();
    await repo.config('p', probeConfig('p', '', 4));
    expect(await r.poll()).toEqual([]);
    const after = r.acquire('p');
    after.release();
    expect(after).not.toBe(before);
    expect(after.model.maxBatchSize).toBe(4);
    expect(before.config.maxBatchSize).toBe(8);

    await repo.config('p', 'max_batch_size: -3');
    const failures = await r.poll();
    expect(failures).toMatchObject([{ name: 'p', error: { code: 'ERR_MODEL_CONFIG', message: expect.stringMatching(/p\/config\.pbtxt: Expected an integer from 0 to 2147483647 for max_batch_size but received number -3/) } }]);
    expect(versionOf(r, 'p')).toBe(4);
    expect(await r.index()).toEqual([{ name: 'p', version: '4', state: 'READY', reason: expect.stringMatching(/max_batch_size/) }]);
    expect(await r.poll()).toEqual([]); // reported once
    await repo.config('p', probeConfig('p'));
    expect(await r.poll()).toEqual([]);
    expect(r.acquire('p').release()).toBeUndefined();
    expect(await r.index()).toEqual([{ name: 'p', version: '4', state: 'READY' }]);
  });

  it('loads a model that appears and unloads one that is removed', async () => {
    await repo.config('q', probeConfig('q'));
    await repo.version('q', 1, 'batch_probe');
    expect(await r.poll()).toEqual([]);
    expect(versionOf(r, 'q')).toBe(1);
    const q = r.acquire('q');
    q.release();
    await repo.remove('q');
    expect(await r.poll()).toEqual([]);
    expect(errorOf(() => r.acquire('q'))).toMatchObject({ code: 'ERR_MODEL_NOT_FOUND' });
    expect((await r.index()).map((e) => e.name)).toEqual(['p']);
    expect(await rejectionOf(q.model.infer(x(1)))).toMatchObject({ code: 'ERR_MODEL_CLOSED' });
  });

  it('polls on its own timer', async () => {
    const own = await TempRepository.create();
    await own.config('t', probeConfig('t'));
    await own.version('t', 1, 'batch_probe');
    const timed = new ModelRepository(own.root, { modelControlMode: 'poll', pollIntervalMs: 25, modelOptions: ONE_THREAD });
    try {
      expect(await timed.start()).toEqual([]);
      await own.version('t', 2, 'batch_probe');
      let version = 1;
      for (let i = 0; i < 400 && version !== 2; i++) {
        await sleep(10);
        version = versionOf(timed, 't');
      }
      expect(version).toBe(2);
    } finally {
      await timed.close();
      await own.dispose();
    }
  });
});

describe('ModelRepository: models the batcher cannot stage', () => {
  let repo: TempRepository;
  let r: ModelRepository;
  let failures: Awaited<ReturnType<ModelRepository['start']>>;
  beforeAll(async () => {
    repo = await TempRepository.create();
    await repo.config('strings', 'max_batch_size: 0 dynamic_batching { default_queue_policy { max_queue_size: 2 } }');
    await repo.version('strings', 1, 'identity_string');
    await repo.config('fixed', 'max_batch_size: 8'); // slow_matmul's first dim is fixed at 1
    await repo.version('fixed', 1, 'slow_matmul');
    r = new ModelRepository(repo.root, { modelOptions: ONE_THREAD });
    failures = await r.start();
  });
  afterAll(async () => {
    await r?.close();
    await repo?.dispose();
  });

  it('serves a string model without the batcher, each request on its own, with the same statistics', async () => {
    const s = r.acquire('strings');
    s.release();
    const out = await s.model.infer({ x: new Tensor('string', ['a', 'bc'], [1, 2]) });
    expect(out.y!.data).toEqual(['a', 'bc']);
    expect(out.y!.dims).toEqual([1, 2]);
    expect(s.model.stats()).toMatchObject({ requests: 1, completed: 1, batches: 1, rows: 1, pending: 0, queueUs: { count: 0 }, computeUs: { count: 1 } });
  });

  it('bounds the requests in flight by max_queue_size (ERR_QUEUE_FULL) and refuses requests once closing', async () => {
    const s = r.acquire('strings');
    s.release();
    const big = new Tensor('string', new Array<string>(200_000).fill('x'), [400, 500]);
    const running = [s.model.infer({ x: big }), s.model.infer({ x: big })];
    expect(await rejectionOf(s.model.infer({ x: big }))).toMatchObject({ code: 'ERR_QUEUE_FULL' });
    await Promise.all(running);
    expect(s.model.stats().rejected.queueFull).toBe(1);
  });

  it('still refuses a batching configuration the model cannot follow, with the batcher\'s reason', () => {
    expect(failures.map((f) => f.name)).toEqual(['fixed']);
    expect(failures[0]!.error).toMatchObject({ code: 'ERR_MODEL_NOT_BATCHABLE', message: expect.stringMatching(/Could not load version 1 of model 'fixed': .*has no dynamic first dimension to batch along \(it is fixed at 1\)/) });
  });
});
