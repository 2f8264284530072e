/**
 * The bearer token that guards the model repository endpoints (POST /v2/repository/index,
 * .../load, .../unload) when one is configured (`controlToken`, `ortex serve --control-token`
 * or ORTEX_CONTROL_TOKEN). Inference, metadata, health and metrics stay open: the token
 * protects what changes or lists the server's models, as Triton's restricted "model-repository"
 * protocol group does.
 *
 * Tokens are compared in constant time (crypto.timingSafeEqual over SHA-256 digests, so the
 * comparison takes the same time whatever the length of what was sent): an attacker timing
 * the answers learns nothing about how much of a guess was right. A 401 answer carries
 * `WWW-Authenticate: Bearer` (http-status.ts).
 */

import { createHash, timingSafeEqual } from 'node:crypto';
import { OrtexError } from '../errors.js';

/** Checks an Authorization header; throws ERR_CONTROL_UNAUTHORIZED (401) when it does not carry the token. */
export type ControlAuth = (authorization: string) => void;

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * @param token the secret; undefined: no check.
 * @throws OrtexError ERR_OPTION_INVALID for a token shorter than 16 characters or with
 *   whitespace or control characters (it would not survive an Authorization header).
 * @example
 * const check = controlAuth(process.env.ORTEX_CONTROL_TOKEN);
 * check(req.getHeader('authorization')); // throws 401 unless "Bearer <token>"
 */
export function controlAuth(token: string | undefined): ControlAuth | undefined {
  if (token === undefined) return undefined;
  if (typeof token !== 'string' || token.length < 16 || token.length > 4096 || !/^[\x21-\x7e]+$/.test(token)) {
    throw new OrtexError('ERR_OPTION_INVALID', 'Expected a control token of 16 to 4096 printable ASCII characters without spaces for controlToken (e.g. `openssl rand -hex 32`)');
  }
  const expected = digest(token);
  return (authorization) => {
    const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(authorization);
    if (!match) {
      throw new OrtexError(
        'ERR_CONTROL_UNAUTHORIZED',
        authorization === ''
          ? 'The model repository endpoints need a bearer token: send "Authorization: Bearer <token>" (the server\'s --control-token)'
          : 'Expected "Authorization: Bearer <token>" for the model repository endpoints but received another scheme',
      );
    }
    if (!timingSafeEqual(digest(match[1]!), expected)) {
      throw new OrtexError('ERR_CONTROL_UNAUTHORIZED', 'The bearer token does not match the server\'s control token');
    }
  };
}
