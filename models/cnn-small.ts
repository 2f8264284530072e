/**
 * cnn_small: a MobileNet-style image classifier, the convolution workload
 * for the benchmarks.
 *
 *   x float32 [N,3,224,224] -> Conv 3x3/2 (16) -> 6 depthwise-separable blocks
 *     -> GlobalAveragePool -> Flatten -> Gemm -> logits [N,10]
 *
 * Each block is a depthwise 3x3 Conv (group = channels) and a pointwise
 * 1x1 Conv, each followed by Relu, as in MobileNet v1 without batch norm
 * (which ORT would fold into the Conv weights anyway).
 */
import { DataType, GraphBuilder, attr, tensorType } from './builder.js';
import { dense } from './layers.js';

export const CNN_SMALL = { imageSize: 224, classes: 10 } as const;

/** [output channels, depthwise stride] per block; the spatial size goes 112 -> 14. */
const BLOCKS: readonly (readonly [number, number])[] = [
  [32, 1],
  [64, 2],
  [64, 1],
  [128, 2],
  [128, 1],
  [256, 2],
];
const STEM_CHANNELS = 16;
const BIAS_LIMIT = 0.1;

function conv(
  g: GraphBuilder,
  x: string,
  prefix: string,
  shape: { inC: number; outC: number; kernel: number; stride: number; group: number },
): string {
  const { inC, outC, kernel, stride, group } = shape;
  const perGroup = inC / group;
  const fanIn = perGroup * kernel * kernel;
  const w = g.weight(`${prefix}.weight`, [outC, perGroup, kernel, kernel], fanIn, (outC / group) * kernel * kernel);
  const b = g.uniform(`${prefix}.bias`, [outC], BIAS_LIMIT);
  const pad = (kernel - 1) / 2;
  return g.op('Relu', [
    g.op('Conv', [x, w, b], {
      kernel_shape: attr.ints([kernel, kernel]),
      strides: attr.ints([stride, stride]),
      pads: attr.ints([pad, pad, pad, pad]),
      group: attr.int(group),
    }),
  ]);
}

export function buildCnnSmall(): Uint8Array {
  const { imageSize, classes } = CNN_SMALL;
  const g = new GraphBuilder('cnn_small');
  const x = g.input('x', tensorType(DataType.FLOAT, ['N', 3, imageSize, imageSize]));
  let h = conv(g, x, 'stem', { inC: 3, outC: STEM_CHANNELS, kernel: 3, stride: 2, group: 1 });
  let channels = STEM_CHANNELS;
  for (const [k, [outC, stride]] of BLOCKS.entries()) {
    h = conv(g, h, `block${k}.depthwise`, { inC: channels, outC: channels, kernel: 3, stride, group: channels });
    h = conv(g, h, `block${k}.pointwise`, { inC: channels, outC, kernel: 1, stride: 1, group: 1 });
    channels = outC;
  }
  const pooled = g.op('Flatten', [g.op('GlobalAveragePool', [h])], { axis: attr.int(1) });
  g.node('Identity', [dense(g, pooled, 'classifier', channels, classes)], { outputs: ['logits'] });
  g.output('logits', tensorType(DataType.FLOAT, ['N', classes]));
  return g.encode();
}
