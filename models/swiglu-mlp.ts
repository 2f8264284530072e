/**
 * swiglu_mlp: a classifier with a SwiGLU feed-forward block whose hidden activations carry a
 * few huge outlier channels, as large language models' do ("massive activations"). It is the
 * case the INT8 sensitivity report exists for.
 *
 *   x float32 [N,64] -> gate = x Wg, up = x Wu            (mlp.gate_proj, mlp.up_proj)
 *                    -> h = SiLU(gate) * up               [N,256]; channels 0..1 reach ~1e4
 *                    -> LayerNorm(h Wd)                   (mlp.down_proj)
 *                    -> logits = . Wc + b                 [N,10] (classifier)
 *
 * The outlier channels have large gate/up weights and tiny down-projection weights, so in
 * float32 they add a normal-sized term and every other channel still counts. INT8 quantizes
 * each activation tensor with one scale: the outliers stretch it until the ordinary channels
 * of h round to 0, and only mlp.down_proj suffers. Excluding that one node restores accuracy.
 */
import { Prng, seedFor } from './prng.js';
import { DataType, GraphBuilder, tensorType } from './builder.js';
import { layerNorm } from './layers.js';

export const SWIGLU_MLP = { features: 64, hidden: 256, classes: 10, outlierChannels: 2, outlierGain: 100 } as const;

export function buildSwigluMlp(): Uint8Array {
  const { features, hidden, classes, outlierChannels, outlierGain } = SWIGLU_MLP;
  const g = new GraphBuilder('swiglu_mlp');
  const x = g.input('x', tensorType(DataType.FLOAT, ['N', features]));
  const weights = (name: string, rows: number, cols: number, gain: (r: number, c: number) => number): string => {
    const values = new Prng(seedFor(`swiglu_mlp/${name}`)).uniform(rows * cols, Math.sqrt(6 / (rows + cols)));
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) values[r * cols + c]! *= gain(r, c);
    return g.floats(name, [rows, cols], values);
  };
  // Columns (gate/up) and rows (down) 0..outlierChannels-1 are the outlier channels.
  const outlierColumn = (_r: number, c: number) => (c < outlierChannels ? outlierGain : 1);
  const outlierRow = (r: number) => (r < outlierChannels ? 1 / outlierGain ** 2 : 1);

  const gate = g.node('MatMul', [x, weights('mlp.gate.weight', features, hidden, outlierColumn)], { name: 'mlp.gate_proj' })[0]!;
  const up = g.node('MatMul', [x, weights('mlp.up.weight', features, hidden, outlierColumn)], { name: 'mlp.up_proj' })[0]!;
  const silu = g.op('Mul', [gate, g.op('Sigmoid', [gate])]);
  const h = g.op('Mul', [silu, up]);
  const down = g.node('MatMul', [h, weights('mlp.down.weight', hidden, features, outlierRow)], { name: 'mlp.down_proj' })[0]!;
  const normed = layerNorm(g, down, 'mlp.norm', features);
  const w = weights('classifier.weight', features, classes, () => 1);
  const b = g.uniform('classifier.bias', [classes], 0.1);
  g.node('Gemm', [normed, w, b], { outputs: ['logits'], name: 'classifier' });
  g.output('logits', tensorType(DataType.FLOAT, ['N', classes]));
  return g.encode();
}
