/**
 * ortex: ONNX Runtime for Node, off the event loop. Public exports only.
 *
 * @example
 * import * as ort from 'ortex';   // where you had: import * as ort from 'onnxruntime-node'
 * const session = await ort.InferenceSession.create('model.onnx');
 * const out = await session.run({ x: new ort.Tensor('float32', new Float32Array(64), [1, 64]) });
 */

import { native } from './native.js';

export { InferenceSession } from './inference-session.js';
export type { RunOptions, ValueMetadata, FeedsType, FetchesType, ReturnType } from './inference-session.js';
export { IoBinding } from './io-binding.js';
export { Model, createModel, attachModel } from './model.js';
export type { InferOptions, SharedModel, ModelOptions, BatcherOptions, PaddingOptions, ModelStats, Histogram } from './model.js';
export { Tensor } from './tensor.js';
export type { TensorData } from './tensor.js';
export type { TensorType, TypedArray, TensorDataMap } from './dtypes.js';
export { TENSOR_TYPES } from './dtypes.js';
export type { OnnxValue, MapKey, TensorLike } from './values.js';
export type { SessionOptions, ExecutionProviderConfig, TensorRTOptions, CUDAOptions, CPUOptions } from './session-options.js';
export { createServer, EXTENSIONS } from './server/server.js';
export type { OrtexServer, ServerOptions } from './server/server.js';
export { composeInfer, callModel } from './server/infer-pipeline.js';
export type { InferCall, InferHandler, InferMiddleware } from './server/infer-pipeline.js';
export { RequestRecord } from './server/request-record.js';
export type { RequestObserver, RequestTransport } from './server/request-record.js';
export { createLogger } from './server/logger.js';
export type { Logger, LogLevel } from './server/logger.js';
export { cacheMiddleware } from './server/cache-middleware.js';
export type { ServerCacheOptions } from './server/cache-middleware.js';
export { createResponseCache, cacheKey } from './cache/index.js';
export type { ResponseCache, ResponseCacheOptions, ResponseCacheStats, CacheResult, CacheOutcome } from './cache/index.js';
export { createServerMetrics } from './metrics/server-metrics.js';
export type { MetricsOptions, ServerMetrics } from './metrics/server-metrics.js';
export { ModelRepository } from './repository/repository.js';
export type { ModelControlMode, RepositoryOptions, IndexEntry, LoadFailure } from './repository/repository.js';
export type { Servable, ModelOptionsHook, ServableRequestStats } from './repository/servable.js';
export type { ServedModel } from './repository/unbatched-model.js';
export { readModelConfig, parseModelConfig, toModelOptions } from './repository/model-config.js';
export type { ModelConfig } from './repository/model-config.js';
export type { WebSocketOptions, WebSocketEndpoint, StreamStats } from './server/ws.js';
export { STREAM_PATH, FRAME_MAGIC, FRAME_VERSION, FrameKind, encodeFrame, joinFrame, parseFrame } from './server/ws-frame.js';
export type { StreamFrame, FramePieces } from './server/ws-frame.js';
export * from './client/index.js';
export { OrtexError, OrtexTypeError, OrtexRangeError, ERROR_CODES, httpStatusOf } from './errors.js';
export type { ErrorCode } from './errors.js';

/** Versions and build facts of the ONNX Runtime library ortex is running on. */
export const env = {
  versions: { ortex: '0.1.0', onnxruntime: native.ortVersion, ortApi: native.ortApiVersion },
  buildInfo: native.ortBuildInfo,
  /** The folder of libonnxruntime.so.1; GPU provider libraries must be placed beside it. */
  libraryDir: native.libraryDir,
  /** Providers compiled into the library (a GPU provider also needs its shared library at run time). */
  availableProviders: (): string[] => native.availableProviders(),
};
