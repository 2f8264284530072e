/**
 * The model toolkit's public API, `import { quantizeModel } from 'ortex/tools'`: the functions
 * behind `ortex inspect | optimize | quantize | compare | bench`. A subpath of its own, so programs that
 * only run models never load onnx-proto.
 */
export { inspectModel, formatInspect, type InspectReport } from './inspect.js';
export { optimizeModel, type OptimizeReport } from './optimize.js';
export { quantizeModel, checkFusion, type QuantizeOptions, type QuantizeReport, type FusionCheck } from './quantize.js';
export { DEFAULT_INT8_OP_TYPES, INT8_OP_TYPES, type Int8Options } from './quantize-int8.js';
export { DEFAULT_FP16_BLOCK_OPS, type Fp16Options } from './fp16.js';
export { int8Sensitivity, type SensitivityOptions, type SensitivityReport, type NodeSensitivity } from './sensitivity.js';
export { compareModels, type CompareOptions, type CompareReport } from './compare.js';
export { benchModels, judgeMetric, BENCH_METRICS, type BenchOptions, type BenchReport, type BenchResult, type BenchMetric, type MetricVerdict, type Warmup } from './perf-analyzer.js';
export { parseCompareSpec, withSettings, BENCH_SETTING_KEYS, type BenchTarget, type BenchMode } from './bench-settings.js';
export type { OutputComparison } from './output-metrics.js';
