#!/usr/bin/env node
/**
 * The `ortex` command. `ortex serve [options]` serves a model repository until SIGTERM or
 * SIGINT, then shuts down gracefully (stop accepting, not ready, finish what is in flight,
 * close the models) and exits 0; a second signal exits at once with status 1. Exit status 1
 * also when the server cannot start, 2 for a usage error.
 */

import { packageVersion } from '../package-info.js';
import { createLogger } from '../server/logger.js';
import { createServer } from '../server/server.js';
import { ensureBundledModels } from './bundled-models.js';
import './cache-flags.js';
import './metrics-flags.js';
import { SERVE_EXTENSIONS } from './serve-extensions.js';
import { SERVE_HELP, UsageError, parseServeArgs } from './serve-options.js';

const USAGE = `Usage: ortex <command> [options]

Commands:
  serve      serve a model repository over HTTP (ortex serve --help)

  ortex --version`;

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
  logger.info({ url: `http://${server.host}:${server.port}`, ...metricsUrl, models: server.repository.servables().map((s) => `${s.name}/${s.version}`) }, 'ready');
}

async function main(argv: readonly string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-v') {
    console.log(packageVersion());
  } else if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
  } else if (command === 'serve') {
    await serve(rest);
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
