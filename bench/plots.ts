/**
 * The benchmarks' SVG plots, drawn from their JSON results: Vega-Lite specs built here, compiled
 * to Vega and rendered headlessly by Vega's View#toSVG() (no browser, no canvas, nothing fetched:
 * the data is inline in each spec).
 *
 *   node dist/bench/plots.js [--in=bench/out] [--out=<the --in folder>]
 *
 * redraws every plot from whichever of latency.json, batching.json and serving.json the --in
 * folder holds; each benchmark also calls writePlots() at the end of its own run. Files:
 *
 * - latency-cdf.svg: per trial of `npm run bench`, the CDF of per-call latency of each runner
 *   (from the quantiles each trial records; a latency.json from before those has no CDF)
 * - batching-<model>-latency.svg, batching-<model>-throughput.svg: p50/p99 and samples/s versus
 *   concurrency, a line per runner
 * - serving-<model>-latency.svg, serving-<model>-throughput.svg: the same for the serving rows
 *
 * Every point is the median over repeats, with the min–max over repeats as a bar (a band for
 * the CDF). vega and vega-lite are devDependencies, loaded only when a plot is rendered, so a
 * benchmark still writes its JSON and Markdown where they are not installed.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { TopLevelSpec } from 'vega-lite';
import { type BatchingRow, runnerText } from './batching-report.js';
import { ROOT, log } from './harness.js';
import { type LatencyGroupResult, type MachineInfo, RUNNER_TEXT } from './report.js';
import { type ServingFigures, rowText } from './serving-report.js';
import { QUANTILE_PER_MILLE, type Spread, spread } from './stats.js';
import type { Runner } from './trials.js';

/** One SVG to write: its file name in the output folder and the Vega-Lite spec that draws it. */
export interface Plot {
  file: string;
  spec: TopLevelSpec;
}

/** The parts of each benchmark's JSON the plots read (each file holds more). */
export interface LatencyJson {
  info: MachineInfo;
  latency: LatencyGroupResult[];
  /** The probabilities of every quantiles_us list, in per mille; QUANTILE_PER_MILLE when absent. */
  quantilePerMille?: readonly number[];
}
export interface BatchingJson {
  info: MachineInfo;
  rows: BatchingRow[];
}
export interface ServingJson {
  info: MachineInfo;
  figures: ServingFigures[];
}

/** The parts of a spec the builders below assemble, taken from vega-lite's one exported spec type. */
type Layered = Extract<TopLevelSpec, { layer: unknown }>;
type Encoding = NonNullable<Extract<TopLevelSpec, { mark: unknown }>['encoding']>;

/** One point of a load plot: a series at a concurrency, as the median and min–max over repeats. */
interface LoadPoint {
  series: string;
  panel: string;
  concurrency: number;
  median: number;
  min: number;
  max: number;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const plain = (markdown: string) => markdown.replaceAll('`', '');
const fileSafe = (s: string) => s.replace(/[^A-Za-z0-9_.]+/g, '-');

/** The subtitle every plot carries: the machine and how busy it was, the code, and what a point is. */
function subtitle(info: MachineInfo, spreadText: string): string[] {
  const dirty = info.code.dirty ? ' with local changes' : '';
  const load = `1-min load ${info.loadAvgStart[0]?.toFixed(1) ?? '?'} at start, ${info.loadAvgEnd[0]?.toFixed(1) ?? '?'} at end`;
  return [
    `${info.cpu}, ${info.cores} vCPUs, Node ${info.node.replace(/^v/, '')}, ONNX Runtime ${info.ort}; commit ${info.code.commit}${dirty}, ${info.date.slice(0, 10)}; ${load}`,
    info.repeats === 1
      ? 'one repeat (a single process per trial): no spread to show'
      : `median of ${info.repeats} repeats (each a fresh process); ${spreadText}: min–max over repeats`,
  ];
}

/**
 * The series in the order of the benchmark's own table, which is also the colour order: each
 * group's (concurrency's, trial's) series in turn, one not seen before going right after its
 * predecessor there (a runner measured only from concurrency 64 on still sits beside its siblings).
 */
function seriesOrder(points: readonly { series: string; group: string | number }[]): string[] {
  const order: string[] = [];
  let group: string | number | undefined;
  let at = -1;
  for (const p of points) {
    if (p.group !== group) [group, at] = [p.group, -1];
    const k = order.indexOf(p.series);
    if (k >= 0) at = k;
    else order.splice(++at, 0, p.series);
  }
  return order;
}

/**
 * A line per series versus concurrency (log 2 axis), one panel per `panel` value, with a bar for
 * the min–max over repeats. The points of one concurrency are set slightly apart sideways (a few
 * per cent of the axis), so the bars of different series do not hide each other. A point without
 * a positive median (no samples, NaN) has no place on a log axis and is left out.
 */
function loadSpec(o: { title: string; subtitle: string[]; seriesTitle: string; yTitle: string; points: LoadPoint[] }): TopLevelSpec {
  o = { ...o, points: o.points.filter((p) => p.median > 0 && p.min > 0 && Number.isFinite(p.max)) };
  const order = seriesOrder(o.points.map((p) => ({ series: p.series, group: p.concurrency })));
  const concurrencies = [...new Set(o.points.map((p) => p.concurrency))].sort((a, b) => a - b);
  const values = o.points.map((p) => ({ ...p, x: p.concurrency * 2 ** ((order.indexOf(p.series) - (order.length - 1) / 2) * 0.06) }));
  const lo = concurrencies[0] ?? 1;
  const hi = concurrencies[concurrencies.length - 1] ?? 1;
  const x: Encoding['x'] = {
    field: 'x',
    type: 'quantitative',
    scale: { type: 'log', base: 2, domain: [lo / 1.5, hi * 1.5] },
    axis: { values: concurrencies, format: 'd', grid: false },
    title: 'concurrency (clients in a closed loop)',
  };
  const y: Encoding['y'] = { field: 'median', type: 'quantitative', scale: { type: 'log' }, title: o.yTitle };
  const color: Encoding['color'] = {
    field: 'series',
    type: 'nominal',
    title: o.seriesTitle,
    scale: { domain: order },
    // No limit: without a canvas Vega estimates text widths generously and would cut labels short.
    legend: { orient: 'bottom', direction: 'vertical', labelLimit: 0 },
  };
  const layer: Layered['layer'] = [
    { mark: { type: 'line', point: true, strokeWidth: 1.5 }, encoding: { x, y, color } },
    { mark: { type: 'errorbar', ticks: true }, encoding: { x, y: { field: 'min', type: 'quantitative', title: o.yTitle }, y2: { field: 'max' }, color } },
  ];
  const panels = [...new Set(o.points.map((p) => p.panel))];
  const title = { text: o.title, subtitle: o.subtitle, anchor: 'start' } as const;
  if (panels.length <= 1) return { $schema: SCHEMA, title, data: { values }, width: 420, height: 300, layer };
  return {
    $schema: SCHEMA,
    title,
    data: { values },
    facet: { column: { field: 'panel', type: 'nominal', sort: panels, title: null, header: { labelFontSize: 13, labelFontWeight: 'bold' } } },
    spec: { width: 320, height: 280, layer },
  };
}

const point = (series: string, panel: string, concurrency: number, s: Spread): LoadPoint => ({ series, panel, concurrency, median: s.median, min: s.min, max: s.max });

/** What loadPlots() draws for one benchmark: per model, a latency plot (p50 and p99 panels) and a throughput plot versus concurrency. */
interface LoadPlotsOf<R> {
  readonly prefix: string;
  readonly model: (r: R) => string;
  readonly concurrency: (r: R) => number;
  /** The line a row belongs to. */
  readonly series: (r: R) => string;
  readonly seriesTitle: string;
  /** e.g. `served: ...` after the model name. */
  readonly latencyTitle: string;
  readonly throughputTitle: string;
  readonly latencyYTitle: string;
  readonly latency: (r: R) => { p50: Spread; p99: Spread };
  readonly throughput: { readonly panel: string; readonly yTitle: string; readonly value: (r: R) => Spread };
}

function loadPlots<R>(rows: readonly R[], info: MachineInfo, o: LoadPlotsOf<R>): Plot[] {
  const plots: Plot[] = [];
  for (const model of [...new Set(rows.map(o.model))]) {
    const mine = rows.filter((r) => o.model(r) === model);
    const sub = subtitle(info, 'bars');
    const at = (r: R, panel: string, s: Spread) => point(o.series(r), panel, o.concurrency(r), s);
    plots.push({
      file: `${o.prefix}-${fileSafe(model)}-latency.svg`,
      spec: loadSpec({
        title: `${model}${o.latencyTitle}`,
        subtitle: sub,
        seriesTitle: o.seriesTitle,
        yTitle: o.latencyYTitle,
        points: mine.flatMap((r) => {
          const l = o.latency(r);
          return [at(r, 'p50', l.p50), at(r, 'p99', l.p99)];
        }),
      }),
    });
    plots.push({
      file: `${o.prefix}-${fileSafe(model)}-throughput.svg`,
      spec: loadSpec({
        title: `${model}${o.throughputTitle}`,
        subtitle: sub,
        seriesTitle: o.seriesTitle,
        yTitle: o.throughput.yTitle,
        points: mine.map((r) => at(r, o.throughput.panel, o.throughput.value(r))),
      }),
    });
  }
  return plots;
}

/** Per model: latency (p50 and p99 panels) and throughput versus concurrency, a line per runner. */
export function batchingPlots(json: BatchingJson): Plot[] {
  return loadPlots(json.rows, json.info, {
    prefix: 'batching',
    model: (r) => r.model,
    concurrency: (r) => r.concurrency,
    series: (r) => plain(runnerText(r.runner)),
    seriesTitle: 'runner',
    latencyTitle: ': latency of a batch-1 request versus concurrency (dynamic batching, in process)',
    throughputTitle: ': throughput versus concurrency (dynamic batching, in process)',
    latencyYTitle: 'latency per request (µs, log scale)',
    latency: (r) => ({ p50: r.p50Us, p99: r.p99Us }),
    throughput: { panel: 'samples/s', yTitle: 'samples/s (log scale)', value: (r) => r.samplesPerSec },
  });
}

/** The text of a serving row as its table prints it; its id for a row this code does not know. */
function servingSeries(f: ServingFigures): string {
  try {
    return plain(rowText(f.row)) || f.row.id;
  } catch {
    return f.row.id;
  }
}

/** Per model: latency (p50 and p99 panels) and requests/s versus concurrency, a line per row (server and protocol). */
export function servingPlots(json: ServingJson): Plot[] {
  return loadPlots(json.figures, json.info, {
    prefix: 'serving',
    model: (f) => f.model,
    concurrency: (f) => f.concurrency,
    series: servingSeries,
    seriesTitle: 'server',
    latencyTitle: ' served: latency versus concurrency (server on one core, load generator on another)',
    throughputTitle: ' served: requests/s versus concurrency (server on one core, load generator on another)',
    latencyYTitle: 'latency per request (ms, log scale)',
    latency: (f) => ({ p50: f.p50Ms, p99: f.p99Ms }),
    throughput: { panel: 'req/s', yTitle: 'requests/s (log scale)', value: (f) => f.reqPerSec },
  });
}

/** The median and min–max over repeats of each quantile, for the runners whose repeats all recorded quantiles. */
function cdfPoints(json: LatencyJson) {
  const perMille = json.quantilePerMille ?? QUANTILE_PER_MILLE;
  const points: { trial: string; series: string; p: number; median: number; min: number; max: number }[] = [];
  for (const g of json.latency) {
    for (const [runner, reps] of Object.entries(g.repeats)) {
      const lists = (reps ?? []).map((r) => r.quantiles_us);
      if (lists.length === 0 || lists.some((q) => q?.length !== perMille.length)) continue;
      const series = plain(RUNNER_TEXT[runner as Runner] ?? runner);
      perMille.forEach((pm, i) => {
        const { median, min, max } = spread(lists.map((q) => q![i]!));
        if (min > 0) points.push({ trial: g.label, series, p: pm / 1000, median, min, max });
      });
    }
  }
  return points;
}

/** One panel per trial (model, batch, intra-op threads), a CDF line per runner with its min–max band; none without quantiles. */
export function latencyPlots(json: LatencyJson): Plot[] {
  const values = cdfPoints(json);
  if (values.length === 0) return [];
  const order = seriesOrder(values.map((v) => ({ series: v.series, group: v.trial })));
  const color: Encoding['color'] = {
    field: 'series',
    type: 'nominal',
    title: 'runner',
    scale: { domain: order },
    // Drawn as lines: by default the legend would take the bands' faint fill.
    legend: { orient: 'bottom', direction: 'vertical', labelLimit: 0, symbolType: 'stroke', symbolOpacity: 1, symbolStrokeWidth: 2 },
  };
  const y: Encoding['y'] = { field: 'p', type: 'quantitative', scale: { domain: [0, 1] }, axis: { format: '%' }, title: 'share of calls at or below (CDF)' };
  const spec: TopLevelSpec = {
    $schema: SCHEMA,
    title: {
      text: 'Per-call latency CDF per trial (b: batch size, t: intra-op threads)',
      subtitle: [...subtitle(json.info, 'bands'), 'quantiles from 1 % to 99.9 %; the x axis of each panel is scaled to its own trial'],
      anchor: 'start',
    },
    data: { values },
    facet: { field: 'trial', type: 'nominal', sort: [...new Set(values.map((v) => v.trial))], title: null, header: { labelFontSize: 13, labelFontWeight: 'bold' } },
    columns: 2,
    spec: {
      width: 340,
      height: 220,
      layer: [
        {
          mark: { type: 'line', strokeWidth: 1.5 },
          encoding: { y, x: { field: 'median', type: 'quantitative', scale: { type: 'log', nice: false }, title: 'latency per call (µs, log scale)' }, color, order: { field: 'p' } },
        },
        { mark: { type: 'area', orient: 'horizontal', opacity: 0.2 }, encoding: { y, x: { field: 'min', type: 'quantitative' }, x2: { field: 'max' }, color } },
      ],
    },
    resolve: { scale: { x: 'independent' } },
  };
  return [{ file: 'latency-cdf.svg', spec }];
}

/** Renders one spec to an SVG document. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Renders `plots` into `outDir` and returns the paths written. Never throws: a plot is a view of
 * the JSON the benchmark has already written, so a failure to draw is logged, not fatal.
 */
export async function writePlots(plots: readonly Plot[], outDir: string): Promise<string[]> {
  const written: string[] = [];
  mkdirSync(outDir, { recursive: true });
  for (const p of plots) {
    try {
      const path = resolve(outDir, p.file);
      writeFileSync(path, `${await renderSvg(p.spec)}\n`);
      written.push(path);
    } catch (err) {
      log(`bench: plot ${p.file} not written: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return written;
}

/** Every plot of the results in `inDir`, by which JSON files exist there. */
export function plotsOf(inDir: string): Plot[] {
  const read = <T>(name: string): T | undefined => {
    const path = resolve(inDir, name);
    return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : undefined;
  };
  const latency = read<LatencyJson>('latency.json');
  const batching = read<BatchingJson>('batching.json');
  const serving = read<ServingJson>('serving.json');
  const cdf = latency ? latencyPlots(latency) : [];
  if (latency && cdf.length === 0) log(`bench: ${resolve(inDir, 'latency.json')} has no quantiles_us (a run before they were recorded): no latency CDF`);
  return [...cdf, ...(batching ? batchingPlots(batching) : []), ...(serving ? servingPlots(serving) : [])];
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { in: { type: 'string' }, out: { type: 'string' } }, strict: true });
  const inDir = values.in ? resolve(values.in) : resolve(ROOT, 'bench/out');
  const outDir = values.out ? resolve(values.out) : inDir;
  const plots = plotsOf(inDir);
  if (plots.length === 0) throw new Error(`bench: no latency.json, batching.json or serving.json with results in ${inDir}`);
  const written = await writePlots(plots, outDir);
  for (const p of written) log(`bench: wrote ${p}`);
  if (written.length < plots.length) process.exitCode = 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
