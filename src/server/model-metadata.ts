/**
 * Model metadata as the Open Inference Protocol reports it (`GET /v2/models/{m}[/versions/{v}]`):
 * inputs and outputs with protocol datatypes and shapes in which every dim the model leaves
 * open (symbolic or unknown, the batch dim among them) is -1.
 */

import type { ValueMetadata } from '../feeds.js';
import type { Servable } from '../repository/servable.js';
import { ortexToOipType } from './oip-datatypes.js';

interface TensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

function tensors(values: readonly ValueMetadata[]): TensorMetadata[] {
  const out: TensorMetadata[] = [];
  for (const v of values) {
    // Sequences and maps have no protocol form; they are left out.
    if (!v.isTensor) continue;
    out.push({
      name: v.name,
      datatype: ortexToOipType(v.type) ?? v.type.toUpperCase(),
      shape: v.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)),
    });
  }
  return out;
}

/**
 * @param versions the ready versions to list (ascending); `shown` is the one whose inputs
 *   and outputs are described (the one asked for, else the latest).
 */
export function modelMetadataJson(versions: readonly Servable[], shown: Servable): Record<string, unknown> {
  return {
    name: shown.name,
    versions: versions.map((s) => s.versionText),
    platform: shown.config.platform,
    inputs: tensors(shown.model.inputMetadata),
    outputs: tensors(shown.model.outputMetadata),
  };
}
