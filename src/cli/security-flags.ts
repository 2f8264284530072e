/**
 * `ortex serve` flags of access control:
 *
 *   --control-token T        bearer token the repository endpoints (index, load, unload) require;
 *                            better given as ORTEX_CONTROL_TOKEN (a flag shows in `ps`)
 *   --tls-cert FILE          serve HTTPS and WSS with this PEM certificate (chain)...
 *   --tls-key FILE           ...and this PEM key: both or neither
 *   --tls-passphrase P       the key's passphrase (or ORTEX_TLS_PASSPHRASE)
 *   --cors-origin ORIGIN     let browser pages of ORIGIN call the server (repeatable; '*' for any)
 */

import { controlAuth } from '../server/auth.js';
import { corsPolicy } from '../server/cors.js';
import { SERVE_EXTENSIONS } from './serve-extensions.js';
import { UsageError } from './serve-options.js';

/** A string flag, or the environment variable standing in for it. */
function stringFlag(values: Record<string, unknown>, flag: string, env?: string): string | undefined {
  const v = values[flag];
  if (typeof v === 'string') return v;
  return env === undefined ? undefined : process.env[env] || undefined;
}

SERVE_EXTENSIONS.push({
  flags: {
    'control-token': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'tls-passphrase': { type: 'string' },
    'cors-origin': { type: 'string', multiple: true },
  },
  help: [
    '  --control-token T           bearer token for POST /v2/repository/* (or env ORTEX_CONTROL_TOKEN; 16+ characters)',
    '  --tls-cert FILE             serve HTTPS/WSS with this PEM certificate (needs --tls-key)',
    '  --tls-key FILE              the PEM private key of --tls-cert',
    '  --tls-passphrase P          passphrase of an encrypted --tls-key (or env ORTEX_TLS_PASSPHRASE)',
    '  --cors-origin ORIGIN        allow browser pages of ORIGIN (repeatable; \'*\' any; default: no CORS, browser WebSockets refused)',
  ],
  configure(values, options) {
    const token = stringFlag(values, 'control-token', 'ORTEX_CONTROL_TOKEN');
    if (token !== undefined) {
      try {
        controlAuth(token);
      } catch (err) {
        throw new UsageError(`${(err as Error).message.replace('for controlToken', 'for --control-token (or ORTEX_CONTROL_TOKEN)')}`);
      }
      options.controlToken = token;
    }
    const cert = stringFlag(values, 'tls-cert');
    const key = stringFlag(values, 'tls-key');
    const passphrase = stringFlag(values, 'tls-passphrase', 'ORTEX_TLS_PASSPHRASE');
    if ((cert === undefined) !== (key === undefined)) {
      throw new UsageError(`--tls-cert and --tls-key go together: received only ${cert === undefined ? '--tls-key' : '--tls-cert'}`);
    }
    if (values['tls-passphrase'] !== undefined && cert === undefined) throw new UsageError('--tls-passphrase needs --tls-cert and --tls-key');
    if (cert !== undefined && key !== undefined) {
      options.tls = { certFile: cert, keyFile: key, ...(passphrase !== undefined && { passphrase }) };
    }
    const origins = values['cors-origin'] as string[] | undefined;
    if (origins) {
      try {
        corsPolicy(origins);
      } catch (err) {
        throw new UsageError((err as Error).message.replace('for corsOrigins', 'for --cors-origin'));
      }
      options.corsOrigins = origins;
    }
  },
});
