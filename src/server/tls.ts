/**
 * HTTPS and WSS: the certificate and key files that uWebSockets.js's SSLApp is given, read
 * and checked here first. uSockets reports a file it cannot use only by failing later (or
 * quietly serving nothing), so every problem an operator can make (a missing or unreadable
 * file, a key that is encrypted without a passphrase, a wrong passphrase, a key that does
 * not belong to the certificate, an expired certificate) becomes one startup error naming
 * the file and what to do.
 */

import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { OrtexError } from '../errors.js';
import type { AppOptions } from './uws.js';

export interface TlsOptions {
  /** PEM certificate (chain) file. */
  certFile: string;
  /** PEM private key file. */
  keyFile: string;
  /** The key's passphrase, when it is encrypted. */
  passphrase?: string;
}

function tlsError(message: string, cause?: unknown): OrtexError {
  return new OrtexError('ERR_SERVER_TLS', message, cause === undefined ? undefined : { cause });
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EISDIR' ? 'it is a directory' : e.message;
    throw tlsError(`Could not read the TLS ${what} file ${path}: ${why}`, err);
  }
}

/**
 * Reads and checks the files; returns SSLApp's options (absolute paths).
 * @throws OrtexError ERR_SERVER_TLS naming the file and the problem.
 * @example uws.SSLApp(tlsAppOptions({ certFile: 'cert.pem', keyFile: 'key.pem' }))
 */
export function tlsAppOptions(o: TlsOptions): AppOptions {
  if (typeof o !== 'object' || o === null || typeof o.certFile !== 'string' || typeof o.keyFile !== 'string' || o.certFile === '' || o.keyFile === '') {
    throw new OrtexError('ERR_OPTION_INVALID', 'Expected { certFile, keyFile, passphrase? } (file paths) for tls');
  }
  if (o.passphrase !== undefined && typeof o.passphrase !== 'string') throw new OrtexError('ERR_OPTION_INVALID', 'Expected a string for tls.passphrase');
  const certFile = resolve(o.certFile);
  const keyFile = resolve(o.keyFile);
  const certPem = readPem(certFile, 'certificate');
  const keyPem = readPem(keyFile, 'key');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw tlsError(`The TLS certificate file ${certFile} holds no PEM certificate: ${(err as Error).message}`, err);
  }
  let key;
  try {
    key = createPrivateKey({ key: keyPem, format: 'pem', ...(o.passphrase !== undefined && { passphrase: o.passphrase }) });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const encrypted = /ENCRYPTED/.test(keyPem.toString('latin1', 0, 200));
    const why = encrypted && o.passphrase === undefined
      ? 'the key is encrypted: give its passphrase (--tls-passphrase or ORTEX_TLS_PASSPHRASE)'
      : encrypted ? 'the passphrase does not decrypt it' : `it holds no PEM private key (${e.message})`;
    throw tlsError(`Could not use the TLS key file ${keyFile}: ${why}`, err);
  }
  if (!cert.checkPrivateKey(key)) throw tlsError(`The TLS key ${keyFile} does not belong to the certificate ${certFile} (subject ${cert.subject.replace(/\n/g, ', ')})`);
  const notAfter = new Date(cert.validTo);
  if (notAfter.getTime() < Date.now()) throw tlsError(`The TLS certificate ${certFile} expired on ${notAfter.toISOString()}`);
  return { cert_file_name: certFile, key_file_name: keyFile, ...(o.passphrase !== undefined && { passphrase: o.passphrase }) };
}
