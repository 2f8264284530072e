/**
 * The logger the server writes to: pino's call shape (`logger.warn(fields, message)`), so any
 * pino instance can be passed as it is. The default is pino itself: one JSON object per line
 * on stderr (`level`, `time`, `pid`, `hostname`, the fields, `msg`), errors under `err`
 * serialized with their type, message, stack and code, and nothing below `level`.
 */

import pino from 'pino';

export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
  /** Whether a level would be written (pino has it); callers that build costly fields ask first. */
  isLevelEnabled?(level: string): boolean;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

/** Where the lines go: anything with a write(line) method (a pino destination stream), or a function. */
export type LogDestination = { write(line: string): void } | ((line: string) => void);

/**
 * A pino logger writing JSON lines to stderr, or to `destination`. Lines are written
 * synchronously, so the last lines before process.exit() are not lost; the server logs
 * events (listening, model loaded, shutdown), not every request, unless at debug level.
 *
 * @example
 * const log = createLogger('info');
 * log.info({ port: 8000 }, 'listening');   // {"level":30,"time":1732280000000,"pid":7,"hostname":"h","port":8000,"msg":"listening"}
 */
export function createLogger(level: LogLevel = 'info', destination?: LogDestination): Logger {
  if (!LOG_LEVELS.includes(level)) throw new TypeError(`Expected one of ${LOG_LEVELS.join(', ')} for the log level but received ${JSON.stringify(level)}`);
  const stream = typeof destination === 'function' ? { write: destination } : destination ?? pino.destination({ fd: 2, sync: true });
  return pino({ level }, stream);
}

/** A logger that drops everything (tests, embedding without logs). */
export const silentLogger: Logger = createLogger('silent', { write() {} });
