import { describe, expect, it } from 'vitest';
import { InferenceSession, Tensor, env } from '../src/index.js';
import { normalizeSessionOptions } from '../src/session-options.js';
import { codeOf, model, randomFloats } from './helpers.js';

const x = () => new Tensor('float32', randomFloats(64), [1, 64]);

function captureWarnings(): { warnings: Error[]; stop: () => void } {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  return { warnings, stop: () => process.off('warning', onWarning) };
}

describe('executionProviders', () => {
  it('knows the providers compiled into the library', () => {
    expect(env.availableProviders()).toEqual(expect.arrayContaining(['CUDAExecutionProvider', 'TensorrtExecutionProvider', 'CPUExecutionProvider']));
  });

  it('falls back from tensorrt and cuda to cpu when their libraries are missing, warning once with the library name', async () => {
    const { warnings, stop } = captureWarnings();
    const s = await InferenceSession.create(model('ctr_mlp'), { executionProviders: ['tensorrt', 'cuda', 'cpu'] });
    const again = await InferenceSession.create(model('ctr_mlp'), { executionProviders: ['tensorrt', 'cuda', 'cpu'] });
    await new Promise((r) => setImmediate(r));
    stop();
    expect(s.executionProviders).toEqual(['cpu']);
    expect(((await s.run({ x: x() })).y as Tensor).dims).toEqual([1, 1]);
    const ours = warnings.filter((w) => (w as { code?: string }).code === 'ORTEX_EP_FALLBACK');
    expect(ours).toHaveLength(2); // one per provider, not repeated for the second session
    expect(ours[0]!.message).toMatch(/'tensorrt' is unavailable.*libonnxruntime_providers_shared\.so was not found in /);
    expect(ours[1]!.message).toMatch(/'cuda' is unavailable/);
    expect(ours[0]!.message).toContain(env.libraryDir);
    await s.release();
    await again.release();
  });

  it('fails with ERR_EP_UNAVAILABLE and the same reason when strict', async () => {
    const err = await InferenceSession.create(model('ctr_mlp'), { executionProviders: ['cuda', 'cpu'], strict: true }).catch((e) => e);
    expect(err.code).toBe('ERR_EP_UNAVAILABLE');
    expect(err.status).toBe(503);
    expect(err.message).toMatch(/'cuda' could not be enabled \(strict: true\).*libonnxruntime_providers_shared\.so was not found/);
  });

  it('hands every TensorRT option to ONNX Runtime under its own key', async () => {
    const s = await InferenceSession.create(model('ctr_mlp'), {
      executionProviders: [{
        name: 'tensorrt', deviceId: 1, fp16: true, int8: false, engineCacheEnable: true, engineCachePath: '/tmp/trt-cache',
        timingCacheEnable: true, timingCachePath: '/tmp/trt-timing', maxWorkspaceSize: 2 ** 30,
        profileMinShapes: { x: [1, 64] }, profileOptShapes: { x: [8, 64] }, profileMaxShapes: 'x:32x64', cudaGraph: true,
        extra: { trt_dla_enable: false },
      }, 'cpu'],
    });
    const trt = s.providerReport[0]!;
    expect(trt.name).toBe('tensorrt');
    expect(trt.ok).toBe(false);
    expect(Object.fromEntries(trt.options)).toEqual({
      device_id: '1', trt_fp16_enable: '1', trt_int8_enable: '0', trt_engine_cache_enable: '1', trt_engine_cache_path: '/tmp/trt-cache',
      trt_timing_cache_enable: '1', trt_timing_cache_path: '/tmp/trt-timing', trt_max_workspace_size: String(2 ** 30),
      trt_profile_min_shapes: 'x:1x64', trt_profile_opt_shapes: 'x:8x64', trt_profile_max_shapes: 'x:32x64', trt_cuda_graph_enable: '1',
      trt_dla_enable: '0',
    });
    expect(trt.error).toMatch(/libonnxruntime_providers_shared\.so/);
    await s.release();
  });

  it('hands every CUDA option to ONNX Runtime under its own key', async () => {
    const s = await InferenceSession.create(model('ctr_mlp'), {
      executionProviders: [{ name: 'cuda', deviceId: 0, gpuMemLimit: 2 ** 31, arenaExtendStrategy: 'kSameAsRequested', cudnnConvAlgoSearch: 'HEURISTIC', doCopyInDefaultStream: true, cudaGraph: false, userComputeStream: 0x7f00deadbeefn }],
    });
    expect(Object.fromEntries(s.providerReport[0]!.options)).toEqual({
      device_id: '0', gpu_mem_limit: String(2 ** 31), arena_extend_strategy: 'kSameAsRequested', cudnn_conv_algo_search: 'HEURISTIC',
      do_copy_in_default_stream: '1', enable_cuda_graph: '0', user_compute_stream: String(0x7f00deadbeefn), has_user_compute_stream: '1',
    });
    expect(s.executionProviders).toEqual(['cpu']);
    await s.release();
  });

  it('passes other providers to ONNX Runtime by name, which names the ones it lacks', async () => {
    const err = await InferenceSession.create(model('ctr_mlp'), { executionProviders: ['NoSuchProvider'], strict: true }).catch((e) => e);
    expect(err.code).toBe('ERR_EP_UNAVAILABLE');
    expect(err.message).toMatch(/Unknown provider name 'NoSuchProvider'/);
  });

  it('applies the cpu provider option useArena', async () => {
    const s = await InferenceSession.create(model('ctr_mlp'), { executionProviders: [{ name: 'cpu', useArena: false }] });
    expect(s.providerReport[0]).toMatchObject({ name: 'cpu', ok: true, options: [['use_arena', '0']] });
    await s.release();
  });

  it('rejects unknown option names and bad values in JS with the valid names listed', async () => {
    expect(() => normalizeSessionOptions({ executionProviders: [{ name: 'tensorrt', fp61: true } as never] })).toThrow(/Unknown option 'fp61' for execution provider 'tensorrt'; valid options: deviceId, fp16/);
    expect(await codeOf(() => normalizeSessionOptions({ executionProviders: [{ name: 'cuda', deviceId: -1 }] }))).toBe('ERR_OPTION_INVALID');
    expect(await codeOf(() => normalizeSessionOptions({ executionProviders: [{ name: 'cuda', cudnnConvAlgoSearch: 'FAST' as 'DEFAULT' }] }))).toBe('ERR_OPTION_INVALID');
    expect(await codeOf(() => normalizeSessionOptions({ executionProviders: [{ name: 'tensorrt', profileMinShapes: { x: [1, -64] } }] }))).toBe('ERR_OPTION_INVALID');
    expect(await codeOf(() => normalizeSessionOptions({ executionProviders: [42 as never] }))).toBe('ERR_OPTION_INVALID');
  });

  it('accepts ONNX Runtime provider names as aliases', () => {
    const n = normalizeSessionOptions({ executionProviders: ['CUDAExecutionProvider', 'TensorrtExecutionProvider', 'CPUExecutionProvider'] });
    expect(n.executionProviders.map((p) => p.name)).toEqual(['cuda', 'tensorrt', 'cpu']);
  });
});
