/**
 * Reading and writing ONNX model files for the toolkit (inspect, optimize, quantize, compare).
 *
 * A model is decoded with onnx-proto into plain protobuf objects that the tools rewrite in
 * place. Reading checks that the bytes really are an ONNX model and pulls any external
 * initializer data in; writing goes to a temporary file renamed over the target, and never
 * over the file a model was read from, so a failed or interrupted tool leaves its input intact.
 */
import { constants } from 'node:fs';
import { access, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as Onnx } from 'onnx-proto';
import { OrtexError } from '../errors.js';

// onnx-proto is CommonJS with a single `module.exports`; ESM sees it as the default export.
export const { onnx } = onnxProto;
export type ModelProto = Onnx.ModelProto;
export type GraphProto = Onnx.IGraphProto;
export type NodeProto = Onnx.INodeProto;
export type TensorProto = Onnx.ITensorProto;
export type AttributeProto = Onnx.IAttributeProto;
export type ValueInfoProto = Onnx.IValueInfoProto;

/** ONNX TensorProto.DataType values by name (FLOAT = 1, INT8 = 3, FLOAT16 = 10, ...). */
export const DataType = onnx.TensorProto.DataType;
export const AttributeType = onnx.AttributeProto.AttributeType;

/** The largest file protobuf can describe: beyond it ONNX needs external data. */
const MAX_PROTOBUF_BYTES = 2 ** 31 - 1;

/** A protobuf int64 field: a Long object when long.js is present, else a number. */
export type Int64 = number | { toNumber(): number };

export function num(v: Int64 | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

export interface LoadedModel {
  readonly path: string;
  /** Size of the file (plus external data files) on disk. */
  readonly bytes: number;
  readonly model: ModelProto;
}

/**
 * Reads and decodes an ONNX model file.
 *
 * @throws OrtexError ERR_MODEL_NOT_FOUND when the file is missing, ERR_MODEL_NOT_ONNX when
 * its bytes are not an ONNX ModelProto with a graph.
 */
export async function readModel(path: string): Promise<LoadedModel> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new OrtexError('ERR_MODEL_NOT_FOUND', `Model file ${path} does not exist`);
    throw new OrtexError('ERR_MODEL_NOT_FOUND', `Cannot read model file ${path}: ${(err as Error).message}`);
  }
  const model = decodeModel(bytes, path);
  const external = await loadExternalData(model, dirname(path));
  return { path, bytes: bytes.length + external, model };
}

/** Decodes model bytes, refusing anything that is not an ONNX model with a graph. */
export function decodeModel(bytes: Uint8Array, what = 'the model'): ModelProto {
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new OrtexError('ERR_MODEL_NOT_ONNX', `${what} is not an ONNX model: its bytes do not decode as an ONNX ModelProto (${(err as Error).message})`);
  }
  // Arbitrary bytes sometimes decode as a protobuf; a model has an IR version, an opset and a graph.
  if (num(model.irVersion) <= 0 || !model.graph || model.opsetImport.length === 0) {
    throw new OrtexError('ERR_MODEL_NOT_ONNX', `${what} is not an ONNX model: it has no ${!model.graph ? 'graph' : num(model.irVersion) <= 0 ? 'IR version' : 'opset import'}`);
  }
  return model;
}

/** Encodes a model, refusing one too large for a single protobuf file. */
export function encodeModel(model: ModelProto): Uint8Array {
  const bytes = onnx.ModelProto.encode(model).finish();
  if (bytes.length > MAX_PROTOBUF_BYTES) {
    throw new OrtexError('ERR_OUTPUT_PATH', `The output model is ${bytes.length} bytes, over protobuf's 2 GiB limit for one file`);
  }
  return bytes;
}

/**
 * Writes model bytes to `outPath` through a temporary file, refusing to overwrite `inputPath`.
 *
 * @throws OrtexError ERR_OUTPUT_PATH when the output is the input or cannot be written.
 */
export async function writeModelFile(bytes: Uint8Array, outPath: string, inputPath?: string): Promise<void> {
  await checkOutputPath(outPath, inputPath);
  const dir = dirname(resolve(outPath));
  const tmp = join(dir, `.${process.pid}.${Date.now()}.ortex-tmp`);
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, outPath);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {});
    throw new OrtexError('ERR_OUTPUT_PATH', `Cannot write ${outPath}: ${(err as Error).message}`);
  }
}

/**
 * Fails early, before a tool does any work, when `outPath` is the input or its directory is
 * missing or not writable.
 */
export async function checkOutputPath(outPath: string, inputPath?: string): Promise<void> {
  if (inputPath !== undefined && resolve(outPath) === resolve(inputPath)) {
    throw new OrtexError('ERR_OUTPUT_PATH', `The output path ${outPath} is the input model: choose another file (the input is never modified)`);
  }
  const dir = dirname(resolve(outPath));
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new OrtexError('ERR_OUTPUT_PATH', `Cannot write ${outPath}: the directory ${dir} does not exist`);
  await access(dir, constants.W_OK).catch(() => {
    throw new OrtexError('ERR_OUTPUT_PATH', `Cannot write ${outPath}: the directory ${dir} is not writable`);
  });
}

/** The opset version a model imports for `domain` ('' is the default ONNX domain), or 0. */
export function opsetVersion(model: ModelProto, domain = ''): number {
  const found = model.opsetImport.find((o) => (o.domain ?? '') === domain || (domain === '' && o.domain === 'ai.onnx'));
  return found ? num(found.version) : 0;
}

/** Adds (or raises) an opset import, e.g. com.microsoft for contrib ops. */
export function requireOpset(model: ModelProto, domain: string, version: number): void {
  const found = model.opsetImport.find((o) => (o.domain ?? '') === domain);
  if (!found) model.opsetImport.push(onnx.OperatorSetIdProto.create({ domain, version }));
  else if (num(found.version) < version) found.version = version;
}

/**
 * Reads initializers stored outside the file (models over 2 GiB) into their raw data, so the
 * tools see every weight. Returns the bytes read.
 */
async function loadExternalData(model: ModelProto, dir: string): Promise<number> {
  let total = 0;
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataLocation !== onnx.TensorProto.DataLocation.EXTERNAL) continue;
    const entry = (key: string) => t.externalData?.find((e) => e.key === key)?.value ?? undefined;
    const location = entry('location');
    if (!location || location.includes('..')) {
      throw new OrtexError('ERR_MODEL_NOT_ONNX', `Initializer ${t.name} has external data with ${location ? `an unsafe location '${location}'` : 'no location'}`);
    }
    const file = await readFile(join(dir, location)).catch((err: Error) => {
      throw new OrtexError('ERR_MODEL_NOT_FOUND', `Initializer ${t.name}'s external data file ${location} cannot be read: ${err.message}`);
    });
    const offset = Number(entry('offset') ?? 0);
    const length = entry('length') !== undefined ? Number(entry('length')) : file.length - offset;
    if (offset + length > file.length) {
      throw new OrtexError('ERR_MODEL_NOT_ONNX', `Initializer ${t.name}'s external data runs past the end of ${location}`);
    }
    t.rawData = file.subarray(offset, offset + length);
    t.dataLocation = onnx.TensorProto.DataLocation.DEFAULT;
    t.externalData = [];
    total += length;
  }
  return total;
}
