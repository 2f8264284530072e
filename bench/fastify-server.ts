/**
 * The serving benchmark's baseline: the server a Node team would build without ortex.
 * fastify parses the Open Inference Protocol JSON, each request becomes onnxruntime-node
 * tensors and one `await session.run(feeds)`, and the outputs go back as the protocol's JSON,
 * in the shape ortex answers with.
 *
 *   node dist/bench/fastify-server.js --port 8001 --model ctr_mlp=models/out/ctr_mlp.onnx [--model NAME=PATH ...]
 *
 * Serves POST /v2/models/{m}/infer and GET /v2/health/{live,ready} on 127.0.0.1. Prints
 * `listening <port>` on stdout once every model is loaded; SIGTERM closes it.
 */
import { parseArgs } from 'node:util';
import Fastify, { type FastifyReply } from 'fastify';
import * as ort from 'onnxruntime-node';
import { sessionOptions } from './trials.js';

interface OipInput {
  name: string;
  datatype: string;
  shape: number[];
  data: number[];
}

type OrtData = Float32Array | Float64Array | Int32Array | BigInt64Array;

/** The datatypes the benchmark's models take, with how a JSON array becomes the tensor's data. */
const FROM_JSON: Record<string, { type: 'float32' | 'float64' | 'int32' | 'int64'; make: (data: number[]) => OrtData }> = {
  FP32: { type: 'float32', make: (d) => Float32Array.from(d) },
  FP64: { type: 'float64', make: (d) => Float64Array.from(d) },
  INT32: { type: 'int32', make: (d) => Int32Array.from(d) },
  INT64: { type: 'int64', make: (d) => BigInt64Array.from(d, (v) => BigInt(v)) },
};

const TO_DATATYPE: Record<string, string> = { float32: 'FP32', float64: 'FP64', int32: 'INT32', int64: 'INT64' };

class BadRequest extends Error {}

function toFeeds(body: unknown): Record<string, ort.Tensor> {
  const inputs = (body as { inputs?: unknown } | null)?.inputs;
  if (!Array.isArray(inputs)) throw new BadRequest('Expected an "inputs" array');
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of inputs as OipInput[]) {
    const conv = FROM_JSON[input?.datatype];
    if (!conv) throw new BadRequest(`Unsupported datatype ${String(input?.datatype)} for input ${String(input?.name)}`);
    if (!Array.isArray(input.shape) || !Array.isArray(input.data)) throw new BadRequest(`Expected shape and data arrays for input ${input.name}`);
    const count = input.shape.reduce((a, b) => a * b, 1);
    if (count !== input.data.length) throw new BadRequest(`Input ${input.name} has shape [${input.shape}] but ${input.data.length} values`);
    feeds[input.name] = new ort.Tensor(conv.type, conv.make(input.data), input.shape);
  }
  return feeds;
}

function toOutputs(results: ort.InferenceSession.OnnxValueMapType) {
  return Object.entries(results).map(([name, t]) => ({
    name,
    datatype: TO_DATATYPE[t.type] ?? t.type.toUpperCase(),
    shape: t.dims,
    data: t.data instanceof BigInt64Array ? Array.from(t.data, Number) : Array.from(t.data as Float32Array),
  }));
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string' }, model: { type: 'string', multiple: true } } });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`Expected --port N but received ${String(values.port)}`);
  const sessions = new Map<string, ort.InferenceSession>();
  for (const spec of values.model ?? []) {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw new TypeError(`Expected --model NAME=PATH but received '${spec}'`);
    sessions.set(spec.slice(0, eq), await ort.InferenceSession.create(spec.slice(eq + 1), sessionOptions(1)));
  }
  if (sessions.size === 0) throw new TypeError('Expected at least one --model NAME=PATH');

  const app = Fastify({ logger: false });
  const fail = (reply: FastifyReply, status: number, message: string) => reply.code(status).send({ error: message });
  app.get('/v2/health/live', async () => ({ live: true }));
  app.get('/v2/health/ready', async () => ({ ready: true }));
  app.post<{ Params: { model: string } }>('/v2/models/:model/infer', async (request, reply) => {
    const session = sessions.get(request.params.model);
    if (!session) return fail(reply, 404, `Unknown model '${request.params.model}'`);
    let feeds: Record<string, ort.Tensor>;
    try {
      feeds = toFeeds(request.body);
    } catch (err) {
      if (err instanceof BadRequest) return fail(reply, 400, err.message);
      throw err;
    }
    const results = await session.run(feeds);
    return { model_name: request.params.model, model_version: '1', outputs: toOutputs(results) };
  });

  await app.listen({ host: '127.0.0.1', port });
  const address = app.server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : port}\n`);
  process.once('SIGTERM', () => {
    void app.close().then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
