/**
 * How far one model's outputs are from another's on the same inputs, accumulated batch by
 * batch for one output.
 *
 * - top-1 agreement: rows (everything but the last axis) whose argmax over the last axis is
 *   the same in both; reported when the last axis has more than one class;
 * - max and mean absolute error over all elements;
 * - max relative error: the max absolute error over the largest |reference| value, so values
 *   near zero do not blow it up;
 * - cosine similarity per row, averaged, and its minimum.
 */
export interface OutputComparison {
  readonly name: string;
  readonly elements: number;
  /** null when the output has no class axis (last dim 1 or a scalar). */
  readonly top1Agreement: number | null;
  readonly maxAbsError: number;
  readonly meanAbsError: number;
  readonly maxRelError: number;
  readonly cosine: number;
  readonly minCosine: number;
}

export class OutputMetrics {
  private rows = 0;
  private agreeing = 0;
  private elements = 0;
  private sumAbs = 0;
  private maxAbs = 0;
  private maxRef = 0;
  private cosineSum = 0;
  private cosineMin = 1;
  private classes = 0;

  constructor(readonly name: string) {}

  /** Adds one batch: `ref` and `out` hold the same elements, `lastDim` the size of the last axis. */
  add(ref: ArrayLike<number>, out: ArrayLike<number>, lastDim: number): void {
    const width = Math.max(1, lastDim);
    this.classes = width;
    for (let r = 0; r + width <= ref.length; r += width) {
      let refArg = r;
      let outArg = r;
      let dot = 0;
      let nRef = 0;
      let nOut = 0;
      for (let i = r; i < r + width; i++) {
        const a = ref[i]!;
        const b = out[i]!;
        const d = Math.abs(a - b);
        this.sumAbs += d;
        if (d > this.maxAbs || Number.isNaN(d)) this.maxAbs = Number.isNaN(d) ? Infinity : d;
        if (Math.abs(a) > this.maxRef) this.maxRef = Math.abs(a);
        if (a > ref[refArg]!) refArg = i;
        if (b > out[outArg]!) outArg = i;
        dot += a * b;
        nRef += a * a;
        nOut += b * b;
      }
      // Two all-zero rows are identical; one all-zero row against another is not.
      const cos = nRef === 0 && nOut === 0 ? 1 : nRef === 0 || nOut === 0 ? 0 : dot / Math.sqrt(nRef * nOut);
      this.cosineSum += cos;
      if (cos < this.cosineMin) this.cosineMin = cos;
      if (refArg - r === outArg - r) this.agreeing++;
      this.rows++;
      this.elements += width;
    }
  }

  result(): OutputComparison {
    return {
      name: this.name,
      elements: this.elements,
      top1Agreement: this.classes > 1 && this.rows > 0 ? this.agreeing / this.rows : null,
      maxAbsError: this.maxAbs,
      meanAbsError: this.elements > 0 ? this.sumAbs / this.elements : 0,
      maxRelError: this.maxRef > 0 ? this.maxAbs / this.maxRef : this.maxAbs,
      cosine: this.rows > 0 ? this.cosineSum / this.rows : 1,
      minCosine: this.rows > 0 ? this.cosineMin : 1,
    };
  }
}
