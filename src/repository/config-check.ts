/**
 * Checks a configuration's `input` and `output` lists against the model file it describes,
 * as Triton does at load time: every listed tensor must exist in the model with the same
 * element type and compatible dims (the batch dim excluded when max_batch_size > 0). A
 * configuration that lists none is filled from the model (Triton's auto-complete).
 */

import type { ValueMetadata } from '../feeds.js';
import type { ServedModel } from './unbatched-model.js';
import { configError, raw } from './config-fields.js';
import type { ModelConfig, ModelInputConfig, ModelOutputConfig } from './model-config-types.js';

const shapeText = (dims: ReadonlyArray<number | string>) => `[${dims.join(',')}]`;

function checkList(
  config: ModelConfig,
  kind: 'input' | 'output',
  listed: ReadonlyArray<ModelInputConfig | ModelOutputConfig>,
  actual: readonly ValueMetadata[],
): void {
  const src = { file: config.configFile ?? `${config.name}/config.pbtxt`, format: 'pbtxt' as const };
  const batched = config.maxBatchSize > 0;
  listed.forEach((t, i) => {
    const path = `${kind}[${i}]`;
    const meta = actual.find((m) => m.name === t.name);
    if (!meta) {
      throw configError(src, `an ${kind} of the model (${actual.map((m) => m.name).join(', ')})`, `${path}.name`, t.name);
    }
    if (!meta.isTensor) throw configError(src, `a tensor ${kind}`, `${path}.name`, raw(`'${t.name}', which the model declares as ${meta.valueType}`));
    if (meta.type !== t.type) {
      throw configError(src, `the element type of the model's ${kind} '${t.name}' (${meta.type})`, `${path}.data_type`, raw(`${t.dataType} (${t.type})`));
    }
    if (t.reshape || meta.shape.length === 0) return; // reshaped, or the model does not say
    const own = batched ? meta.shape.slice(1) : meta.shape;
    const what = `${own.length} dims matching the model's ${kind} '${t.name}' ${shapeText(meta.shape)}${batched ? ' less its batch dim' : ''}`;
    if (t.dims.length !== own.length) throw configError(src, what, `${path}.dims`, raw(shapeText(t.dims)));
    t.dims.forEach((d, k) => {
      const m = own[k];
      if (d !== -1 && typeof m === 'number' && m >= 0 && m !== d) throw configError(src, what, `${path}.dims[${k}]`, d);
    });
  });
}

/**
 * @throws ERR_MODEL_CONFIG naming the configuration file, the field and what the model has.
 * @example checkConfigAgainstModel(config, await createModel(path, toModelOptions(config)));
 */
export function checkConfigAgainstModel(config: ModelConfig, model: ServedModel): void {
  checkList(config, 'input', config.inputs, model.inputMetadata);
  checkList(config, 'output', config.outputs, model.outputMetadata);
}
