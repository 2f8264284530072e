/**
 * The logger the server writes to: the call shape of pino (`logger.warn(fields, message)`),
 * so a pino instance can be passed as it is. The default writes one JSON object per line to
 * stderr, and nothing below `level`.
 */

export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const RANK: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50, silent: 100 };

function fieldValue(v: unknown): unknown {
  // Errors have no enumerable fields: keep what a reader of the log needs.
  if (v instanceof Error) return { type: v.name, message: v.message, code: (v as { code?: unknown }).code, stack: v.stack };
  return v;
}

/**
 * A JSON-lines logger on stderr, pino's level numbers and field names (`level`, `time`, `msg`).
 * @example
 * const log = createLogger('info');
 * log.info({ port: 8000 }, 'listening');   // {"level":30,"time":1732280000000,"port":8000,"msg":"listening"}
 */
export function createLogger(level: LogLevel = 'info', write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
  const min = RANK[level];
  const at = (name: Exclude<LogLevel, 'silent'>) => (fields: object, message: string): void => {
    if (RANK[name] < min) return;
    const entry: Record<string, unknown> = { level: RANK[name], time: Date.now() };
    for (const [k, v] of Object.entries(fields)) entry[k] = fieldValue(v);
    entry.msg = message;
    write(JSON.stringify(entry) + '\n');
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A logger that drops everything (tests, embedding without logs). */
export const silentLogger: Logger = createLogger('silent');
