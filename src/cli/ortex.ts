#!/usr/bin/env -S node --min-semi-space-size=16 --max-semi-space-size=16
/**
 * The `ortex` command. `ortex serve [options]` serves a model repository until SIGTERM or
 * SIGINT, then shuts down gracefully (stop accepting, not ready, finish what is in flight,
 * close the models) and exits 0; a second signal exits at once with status 1. Exit status 1
 * also when the server cannot start, 2 for a usage error.
 *
 * The first line runs node with SERVE_NODE_FLAGS (node-flags.ts says why).
 */

import { packageVersion } from '../package-info.js';
import { createLogger } from '../server/logger.js';
import { createServer } from '../server/server.js';
import { ensureBundledModels } from './bundled-models.js';
import './cache-flags.js';
import './metrics-flags.js';
import './limits-flags.js';
import './security-flags.js';
import { SERVE_EXTENSIONS } from './serve-extensions.js';
import { SERVE_HELP, UsageError, parseServeArgs } from './serve-options.js';
import { superviseWorkers } from './worker-supervisor.js';
import { isWorkerProcess, workerCount } from './workers-flags.js';

const USAGE = `Usage: ortex <command> [options]

Commands:
  serve      serve a model repository over HTTP (ortex serve --help)
  inspect    inputs, outputs, operators, parameters and what blocks quantization
  optimize   ONNX Runtime's offline graph optimization, saved to a file
  quantize   dynamic INT8 or FP16 conversion, with a per-node sensitivity report
  compare    accuracy, size and latency of two models side by side
  bench      latency percentiles and throughput of a model, or of two setups side by side
  (ortex <command> --help for each)

  ortex --version`;

// The model tools load on demand, so `ortex serve` does not pay for onnx-proto.
const TOOL_COMMANDS = {
  inspect: async () => (await import('./inspect-command.js')).runInspect,
  optimize: async () => (await import('./optimize-command.js')).runOptimize,
  quantize: async () => (await import('./quantize-command.js')).runQuantize,
  compare: async () => (await import('./compare-command.js')).runCompare,
  bench: async () => (await import('./bench-command.js')).runBench,
};

async function serve(argv: readonly string[]): Promise<void> {
  const args = parseServeArgs(argv);
  if (args.help) {
    console.log([SERVE_HELP, ...SERVE_EXTENSIONS.flatMap((e) => e.help)].join('\n'));
    return;
  }
  const logger = createLogger(args.logLevel);
  const options = { ...args.options, logger };
  if (args.bundled) {
    const written = await ensureBundledModels(options.repository);
    if (written.length > 0) logger.info({ files: written }, 'generated the bundled repository\'s model files');
  }
  for (const ext of SERVE_EXTENSIONS) await ext.configure?.(args.values, options);
  const workers = workerCount(args.values);
  if (workers > 1 && !isWorkerProcess()) {
    const metricsPort = typeof options.metrics === 'object' ? options.metrics.port : undefined;
    process.exit(await superviseWorkers({ argv, workers, host: options.host ?? '127.0.0.1', port: options.port ?? 8000, metricsPort, logger }));
  }
  const server = createServer(options);
  const closers: Array<() => Promise<void>> = [];
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without finishing');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing requests in flight');
    server
      .close()
      .then(() => Promise.all(closers.map((c) => c())))
      .then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  await server.listen();
  for (const ext of SERVE_EXTENSIONS) {
    const closer = await ext.started?.(server, args.values);
    if (closer) closers.push(closer);
  }
  const metricsUrl = server.metricsPort === 0 ? {} : { metricsPort: server.metricsPort };
  logger.info({ url: `${server.tls ? 'https' : 'http'}://${server.host}:${server.port}`, ...metricsUrl, models: server.repository.servables().map((s) => `${s.name}/${s.version}`) }, 'ready');
}

async function main(argv: readonly string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-v') {
    console.log(packageVersion());
  } else if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
  } else if (command === 'serve') {
    await serve(rest);
  } else if (command !== undefined && command in TOOL_COMMANDS) {
    const run = await TOOL_COMMANDS[command as keyof typeof TOOL_COMMANDS]();
    await run(rest);
  } else {
    throw new UsageError(`Unknown command '${command}'`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof UsageError) {
    console.error(`ortex: ${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
  console.error(`ortex: ${(err as Error)?.message ?? String(err)}`);
  process.exit(1);
});
