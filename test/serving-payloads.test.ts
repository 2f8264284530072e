import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeInputs } from '../bench/inputs.js';
import { coldTemplate, requestBodies, requestPlan, writeRequestFile } from '../bench/serving-payloads.js';
import { MODELS } from '../bench/trials.js';
import { parseInferRequest } from '../src/server/oip-codec.js';

describe('requestBodies()', () => {
  it('encodes row i of the bench inputs as a batch-1 JSON request', () => {
    const bodies = requestBodies(MODELS.ctr_mlp, 'json', 4);
    const x = makeInputs(MODELS.ctr_mlp, 4)[0]!.data as Float32Array;
    expect(bodies[2]!.headerLength).toBeUndefined();
    const req = parseInferRequest(bodies[2]!.body);
    expect(req.inputs[0]!.shape).toEqual([1, 64]);
    expect(Array.from(req.inputs[0]!.data as Float32Array)).toEqual(Array.from(x.subarray(128, 192)));
  });

  it('encodes binary inputs with a header length and asks for binary outputs', () => {
    const [body] = requestBodies(MODELS.bert_mini, 'binary', 1);
    expect(body!.headerLength).toBeGreaterThan(0);
    const req = parseInferRequest(body!.body, body!.headerLength);
    expect(req.binaryOutputsDefault).toBe(true);
    expect(req.inputs.map((i) => [i.name, i.datatype, i.shape])).toEqual([
      ['input_ids', 'INT64', [1, 64]],
      ['attention_mask', 'INT64', [1, 64]],
    ]);
  });
});

describe('coldTemplate()', () => {
  it('splits around the first value so that any number makes a valid request', () => {
    const [body] = requestBodies(MODELS.ctr_mlp, 'json', 1);
    const { prefix, suffix } = coldTemplate(body!.body);
    const req = parseInferRequest(Buffer.concat([prefix, Buffer.from('1001'), suffix]));
    const data = req.inputs[0]!.data as Float32Array;
    expect(data[0]).toBe(1001);
    expect(data.length).toBe(64);
  });

  it('rejects a binary body', () => {
    const [body] = requestBodies(MODELS.ctr_mlp, 'binary', 1);
    expect(() => coldTemplate(body!.body)).toThrow(/all-JSON/);
  });
});

describe('writeRequestFile()', () => {
  it('writes the layout bench/serving-wrk.lua reads', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ortex-serving-test-'));
    try {
      const plan = requestPlan(MODELS.ctr_mlp, 'json', 3, 0.9);
      writeRequestFile(join(dir, 'r.bin'), plan);
      const text = readFileSync(join(dir, 'r.bin')).toString('latin1');
      const lines = text.split('\n');
      expect(lines[0]).toBe('path /v2/models/ctr_mlp/infer');
      expect(lines[1]).toBe('bodies 3');
      expect(lines[2]).toBe(`0 ${plan.bodies[0]!.body.length}`);
      const order = text.match(/}order (\d+)((?: \d+)+)\n/); // a body ends where its length says: no newline after it
      expect(Number(order![1])).toBe(plan.order.length);
      expect(order![2]!.trim().split(' ').every((i) => Number(i) < 3)).toBe(true);
      expect(text).toMatch(/\ncold 0\.1 1000 16776216 \d+ \d+\n/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
