/**
 * Cross-origin access from browsers. Off by default: the server sends no CORS headers, so
 * a web page of another origin cannot read its answers, and browser WebSocket connections
 * (which carry an Origin header) are refused with 403, since browsers apply no same-origin
 * rule to WebSockets and any page could otherwise stream requests to a server on localhost.
 *
 * With `corsOrigins` (`ortex serve --cors-origin https://app.example`, repeatable, or '*'):
 * every response to a request from an allowed origin carries Access-Control-Allow-Origin
 * (and Vary: Origin), OPTIONS preflights are answered 204 with the methods and headers the
 * protocol uses, and WebSocket connections from those origins are accepted.
 *
 * Threading: the event loop only.
 */

import { OrtexError } from '../errors.js';

/** Allowed origins; '*' allows any. */
export interface CorsPolicy {
  readonly any: boolean;
  readonly origins: ReadonlySet<string>;
}

const ORIGIN = /^https?:\/\/[^/\s?#]+$/;
/** Headers a browser client may read from an answer. */
const EXPOSED = 'inference-header-content-length, ortex-error-code, www-authenticate, retry-after';
const METHODS = 'GET, POST, OPTIONS';
const REQUEST_HEADERS = 'content-type, inference-header-content-length, authorization';

/**
 * @param origins e.g. ['https://app.example', 'http://localhost:3000'], or ['*'].
 * @throws OrtexError ERR_OPTION_INVALID for an origin that is not scheme://host[:port].
 * @example corsPolicy(['https://app.example'])
 */
export function corsPolicy(origins: readonly string[] | undefined): CorsPolicy | undefined {
  if (origins === undefined) return undefined;
  if (!Array.isArray(origins) || origins.length === 0) throw new OrtexError('ERR_OPTION_INVALID', 'Expected a non-empty array of origins for corsOrigins');
  for (const o of origins) {
    if (o !== '*' && (typeof o !== 'string' || !ORIGIN.test(o))) {
      throw new OrtexError('ERR_OPTION_INVALID', `Expected '*' or an origin such as https://app.example:8443 (scheme, host, optional port; no path) for corsOrigins but received ${JSON.stringify(o)}`);
    }
  }
  return { any: origins.includes('*'), origins: new Set(origins.map((o) => o.toLowerCase())) };
}

/** The Access-Control-Allow-Origin value for a request's Origin header, or undefined when not allowed (or absent). */
export function allowedOrigin(policy: CorsPolicy | undefined, origin: string): string | undefined {
  if (!policy || origin === '') return undefined;
  if (policy.any) return '*';
  return policy.origins.has(origin.toLowerCase()) ? origin : undefined;
}

/** Headers for an answer to a request from `origin` ('' when none was sent). */
export function corsHeaders(policy: CorsPolicy | undefined, origin: string): Array<[string, string]> | undefined {
  const allow = allowedOrigin(policy, origin);
  if (allow === undefined) return undefined;
  return [['access-control-allow-origin', allow], ['access-control-expose-headers', EXPOSED], ['vary', 'Origin']];
}

/** Headers of a preflight answer (204) to a request from `origin`; none when it is not allowed. */
export function preflightHeaders(policy: CorsPolicy | undefined, origin: string): Array<[string, string]> {
  const allow = allowedOrigin(policy, origin);
  if (allow === undefined) return [];
  return [
    ['access-control-allow-origin', allow],
    ['access-control-allow-methods', METHODS],
    ['access-control-allow-headers', REQUEST_HEADERS],
    ['access-control-max-age', '600'],
    ['vary', 'Origin'],
  ];
}

/**
 * Whether a WebSocket upgrade may proceed: requests without an Origin (non-browser clients)
 * always; browser ones only from an allowed origin.
 * @throws OrtexError ERR_ORIGIN_FORBIDDEN (403) otherwise.
 */
export function checkUpgradeOrigin(policy: CorsPolicy | undefined, origin: string): void {
  if (origin === '' || allowedOrigin(policy, origin) !== undefined) return;
  throw new OrtexError('ERR_ORIGIN_FORBIDDEN', `WebSocket connections from the origin ${JSON.stringify(origin.slice(0, 200))} are not allowed; start the server with --cors-origin ${origin.slice(0, 200)} to allow them`);
}
