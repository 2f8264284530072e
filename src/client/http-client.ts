/**
 * OrtexHttpClient: the Open Inference Protocol over HTTP with fetch, for ortex or any other
 * KServe v2 / Triton server. Tensors travel as binary data (Triton's binary tensor
 * extension) unless `binary: false` asks for JSON.
 */

import type { Tensor } from '../tensor.js';
import { invalidType } from '../validate.js';
import { HEADER_LENGTH_HEADER, parseInferResponse } from '../server/oip-codec.js';
import type { OipDatatype } from '../server/oip-datatypes.js';
import { ERROR_CODE_HEADER } from '../server/http-status.js';
import { connectionError, protocolError, serverError } from './client-error.js';
import { type ClientInferOptions, decodeOutputs, encodeRequest, modelRef } from './infer-message.js';

/** One input or output in a model's metadata; -1 for a dynamic dimension. */
export interface TensorMetadata {
  name: string;
  datatype: OipDatatype;
  shape: number[];
}

/** GET /v2/models/{model}[/versions/{version}] */
export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

export interface HttpClientOptions {
  /** Headers sent with every request (e.g. authorization for a proxy in front). */
  headers?: Readonly<Record<string, string>>;
}

/**
 * @example
 * const client = new OrtexHttpClient('http://127.0.0.1:8000');
 * if (await client.ready()) {
 *   const { y } = await client.infer('ctr_mlp', { x: new Tensor('float32', new Float32Array(64), [1, 64]) });
 * }
 */
export class OrtexHttpClient {
  /** The server's base URL, without a trailing slash. */
  readonly baseUrl: string;
  readonly #headers: Readonly<Record<string, string>>;

  /** @throws OrtexTypeError ERR_INVALID_ARG for a URL that is not http(s). */
  constructor(baseUrl: string | URL, options: HttpClientOptions = {}) {
    let url: URL;
    try {
      url = new URL(String(baseUrl));
    } catch {
      throw invalidType('an http:// or https:// URL', 'OrtexHttpClient baseUrl', baseUrl);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalidType('an http:// or https:// URL', 'OrtexHttpClient baseUrl', String(baseUrl));
    this.baseUrl = url.href.replace(/\/+$/, '');
    this.#headers = { ...options.headers };
  }

  /** Whether the server is live (GET /v2/health/live). Rejects with ERR_CLIENT_CONNECTION when it cannot be reached. */
  async live(): Promise<boolean> {
    return (await this.#fetch('/v2/health/live')).ok;
  }

  /**
   * Whether the server, or one model (version), is ready to serve: false while loading or
   * shutting down, or for a model it does not have.
   * @throws ERR_CLIENT_CONNECTION when the server cannot be reached.
   */
  async ready(model?: string, version?: string | number): Promise<boolean> {
    const path = model === undefined ? '/v2/health/ready' : `${this.#modelPath('ready()', model, version)}/ready`;
    const res = await this.#fetch(path);
    await res.arrayBuffer();
    return res.ok;
  }

  /** A model's metadata: versions, inputs and outputs with protocol datatypes. */
  async metadata(model: string, version?: string | number): Promise<ModelMetadata> {
    const res = await this.#fetch(this.#modelPath('metadata()', model, version));
    return (await this.#json(res)) as ModelMetadata;
  }

  /**
   * Runs one inference request.
   * @throws OrtexTypeError ERR_INVALID_ARG for bad arguments (nothing is sent); OrtexError
   *   with the server's code and status when it answers with an error; ERR_CLIENT_CONNECTION
   *   or ERR_CLIENT_PROTOCOL when it cannot be reached or its answer cannot be read.
   * @example
   * const out = await client.infer('probe', { x: new Tensor('float64', new Float64Array([1, 2]), [2, 1]) }, { outputs: ['y'], version: 1 });
   */
  async infer(model: string, inputs: Readonly<Record<string, Tensor>>, options: ClientInferOptions = {}): Promise<Record<string, Tensor>> {
    const path = `${this.#modelPath('infer()', model, options?.version)}/infer`;
    const { body, headerLength } = encodeRequest(inputs, options, 'infer()');
    const headers: Record<string, string> = { ...this.#headers, 'content-type': headerLength === undefined ? 'application/json' : 'application/octet-stream' };
    if (headerLength !== undefined) headers[HEADER_LENGTH_HEADER] = String(headerLength);
    const res = await this.#fetch(path, { method: 'POST', headers, body: body as string | Uint8Array<ArrayBuffer> });
    if (!res.ok) throw await this.#error(res);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const length = res.headers.get(HEADER_LENGTH_HEADER);
    try {
      return decodeOutputs(parseInferResponse(bytes, length === null ? undefined : Number(length)));
    } catch (err) {
      throw protocolError(`Could not read the inference response of ${this.baseUrl}${path}`, err);
    }
  }

  #modelPath(where: string, model: string, version: string | number | undefined): string {
    const ref = modelRef(model, version, where);
    const base = `/v2/models/${encodeURIComponent(ref.model)}`;
    return ref.version === '' ? base : `${base}/versions/${encodeURIComponent(ref.version)}`;
  }

  async #fetch(path: string, init: RequestInit = {}): Promise<Response> {
    try {
      return await fetch(`${this.baseUrl}${path}`, { ...init, headers: { ...this.#headers, ...(init.headers as Record<string, string>) } });
    } catch (err) {
      const cause = (err as { cause?: { message?: string } }).cause?.message;
      throw connectionError(`Could not reach ${this.baseUrl}${path}: ${cause ?? (err as Error).message}`, err);
    }
  }

  async #json(res: Response): Promise<unknown> {
    if (!res.ok) throw await this.#error(res);
    const text = await res.text();
    try {
      return JSON.parse(text);
    } catch (err) {
      throw protocolError(`Expected JSON from ${res.url} but received ${JSON.stringify(text.slice(0, 80))}`, err);
    }
  }

  /** The server's error: `{"error": message}` and, from ortex, the code in a header. */
  async #error(res: Response): Promise<Error> {
    const text = await res.text();
    let message = text;
    try {
      const body = JSON.parse(text) as { error?: unknown };
      if (typeof body?.error === 'string') message = body.error;
    } catch {
      // not JSON: the text as it came
    }
    return serverError(res.status, res.headers.get(ERROR_CODE_HEADER), message || `HTTP ${res.status} from ${res.url}`);
  }
}
