/**
 * Loads uWebSockets.js: the native binary of @trufflesuite/uws-js-unofficial for
 * linux-x64 and Node ABI 115 (Node 20), required directly. The package's own entry is
 * never used, because when its binary does not load it prints a warning and quietly
 * returns a pure-Node stand-in many times slower; ortex would rather not start than serve
 * at a fraction of its speed without saying so.
 */

import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type * as UwsTypes from '@trufflesuite/uws-js-unofficial';
import { OrtexError } from '../errors.js';

/** The uWebSockets.js module, typed by the package's own declarations. */
export type Uws = typeof UwsTypes;
export type {
  TemplatedApp,
  HttpRequest,
  HttpResponse,
  WebSocket,
  WebSocketBehavior,
  RecognizedString,
  us_listen_socket as UsListenSocket,
  us_socket as UsSocket,
  AppOptions,
} from '@trufflesuite/uws-js-unofficial';

const PACKAGE = '@trufflesuite/uws-js-unofficial';
/** The one binary ortex supports; the platform, architecture and ABI it was built for. */
export const UWS_BINARY = 'uws_linux_x64_115.node';
const BUILT_FOR = { platform: 'linux', arch: 'x64', modules: '115' } as const;

let cached: Uws | undefined;

/**
 * The uWebSockets.js module, loaded on first call and cached.
 *
 * @throws OrtexError ERR_SERVER_UWS_LOAD, listing the likely causes and the loader's own message.
 * @example
 * const uws = loadUws();
 * const app = uws.App().get('/*', (res) => void res.end('ok'));
 * app.listen('127.0.0.1', 8000, (socket) => { if (!socket) throw new Error('port taken'); });
 */
export function loadUws(): Uws {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  let path: string;
  try {
    path = join(dirname(require.resolve(`${PACKAGE}/package.json`)), 'binaries', UWS_BINARY);
  } catch (err) {
    throw loadError(`${PACKAGE}/binaries/${UWS_BINARY}`, err, false);
  }
  cached = loadUwsFrom(path);
  return cached;
}

/**
 * Loads a uWebSockets.js binary from an explicit path (not cached).
 * @internal For tests of the failure message, and for trying another build by hand.
 */
export function loadUwsFrom(path: string): Uws {
  try {
    const mod = createRequire(import.meta.url)(path) as Uws;
    if (typeof mod?.App !== 'function') throw new Error(`${path} loaded but exports no App()`);
    return mod;
  } catch (err) {
    throw loadError(path, err, true);
  }
}

function glibcVersion(): string | undefined {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime;
}

function loadError(path: string, err: unknown, installed: boolean): OrtexError {
  const reason = err instanceof Error ? err.message : String(err);
  const here = `${process.platform}-${process.arch}, Node ${process.version} (ABI ${process.versions.modules})`;
  const glibc = process.platform === 'linux' ? glibcVersion() : undefined;
  const missing = !installed || !existsSync(path);
  const causes = [
    `- ${PACKAGE} is not installed${missing ? ' (the binary is not there)' : ''}: run \`npm ci\``,
    `- wrong platform or architecture: the binary is for ${BUILT_FOR.platform}-${BUILT_FOR.arch}, this is ${process.platform}-${process.arch}`,
    `- Node ABI not ${BUILT_FOR.modules} (Node 20): this is ABI ${process.versions.modules}`,
    `- glibc too old for the binary, or a musl system such as Alpine${glibc ? ` (this system has glibc ${glibc})` : ''}`,
  ];
  return new OrtexError(
    'ERR_SERVER_UWS_LOAD',
    [
      `Could not load uWebSockets.js from ${path} on ${here}`,
      ...reason.split('\n').map((line) => `  ${line}`),
      'Possible causes:',
      ...causes,
    ].join('\n'),
    { cause: err },
  );
}
