/**
 * The generator of ortex's demo and test models.
 *
 * Every model is built in code from seeded weights, so the .onnx files
 * need not be committed: `models/out/` is regenerated before the tests
 * (test/setup/generate-models.ts) and by `npm run models`.
 *
 * @example
 * ```ts
 * import { generateModels } from './models/generate.js';
 * const written = await generateModels('models/out', { only: ['ctr_mlp'] });
 * // [{ name: 'ctr_mlp', path: 'models/out/ctr_mlp.onnx', bytes: 331277 }]
 * ```
 *
 * As a script: `node dist/models/generate.js [outDir]` writes every model
 * (default `models/out/`) and prints each name and size.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildBatchProbe } from './batch-probe.js';
import { buildBertMini } from './bert-mini.js';
import { buildCnnSmall } from './cnn-small.js';
import { buildCtrMlp } from './ctr-mlp.js';
import { buildDlrm } from './dlrm.js';
import { buildAddBfloat16, buildAddFloat32, buildIdentity, IDENTITY_DTYPES, type IdentityDtype } from './dtype-models.js';
import { buildSlowMatmul } from './slow-matmul.js';
import { buildSwigluMlp } from './swiglu-mlp.js';
import { buildTokenTagger } from './token-tagger.js';
import {
  buildMapVectorize,
  buildOptionalHas,
  buildSequenceAt,
  buildSequenceConstruct,
  buildZipMap,
} from './value-models.js';

export interface GeneratedModel {
  name: string;
  path: string;
  bytes: number;
}

// Builders run lazily: bert_mini alone is tens of megabytes, and callers
// that want one small model should not pay for it.
const BUILDERS: ReadonlyMap<string, () => Uint8Array> = new Map<string, () => Uint8Array>([
  ['ctr_mlp', buildCtrMlp],
  ['slow_matmul', buildSlowMatmul],
  ...(Object.keys(IDENTITY_DTYPES) as IdentityDtype[]).map(
    (dtype) => [`identity_${dtype}`, () => buildIdentity(dtype)] as [string, () => Uint8Array],
  ),
  ['add_float32', buildAddFloat32],
  ['add_bfloat16', buildAddBfloat16],
  ['sequence_construct', buildSequenceConstruct],
  ['sequence_at', buildSequenceAt],
  ['optional_has', buildOptionalHas],
  ['zip_map', buildZipMap],
  ['map_vectorize', buildMapVectorize],
  ['batch_probe', buildBatchProbe],
  ['token_tagger', buildTokenTagger],
  ['bert_mini', buildBertMini],
  ['dlrm', buildDlrm],
  ['cnn_small', buildCnnSmall],
  ['swiglu_mlp', buildSwigluMlp],
]);

/** Every model the generator knows, in generation order. */
export const MODEL_NAMES: readonly string[] = Object.freeze([...BUILDERS.keys()]);

/** The encoded ONNX bytes of one model; identical on every call and every machine. */
export function buildModel(name: string): Uint8Array {
  const build = BUILDERS.get(name);
  if (build === undefined) {
    throw new RangeError(`Expected one of ${MODEL_NAMES.join(', ')} for name but received ${JSON.stringify(name)}`);
  }
  return build();
}

/**
 * Writes `<name>.onnx` into `outDir` for every model, or for `opts.only`.
 * Each file is written beside its final name and renamed into place, so a
 * reader never sees a half-written model.
 */
export async function generateModels(outDir: string, opts: { only?: string[] } = {}): Promise<GeneratedModel[]> {
  const names = opts.only ?? MODEL_NAMES;
  for (const name of names) {
    if (!BUILDERS.has(name)) {
      throw new RangeError(`Expected one of ${MODEL_NAMES.join(', ')} for only but received ${JSON.stringify(name)}`);
    }
  }
  await mkdir(outDir, { recursive: true });
  const written: GeneratedModel[] = [];
  for (const name of names) {
    const bytes = buildModel(name);
    const path = join(outDir, `${name}.onnx`);
    const partial = `${path}.${process.pid}.partial`;
    await writeFile(partial, bytes);
    await rename(partial, path);
    written.push({ name, path, bytes: bytes.length });
  }
  return written;
}

async function main(): Promise<void> {
  // Compiled to dist/models/generate.js, so the repo's models/out/ is two levels up.
  const outDir = process.argv[2] ?? fileURLToPath(new URL('../../models/out/', import.meta.url));
  for (const model of await generateModels(outDir)) {
    console.log(`${model.name.padEnd(24)} ${model.bytes.toString().padStart(10)} bytes`);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
