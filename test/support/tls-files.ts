import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A self-signed certificate for 127.0.0.1 (and `localhost`, the name the NATS client checks for a loopback IP) and its key (PEM files): the server's, and the CA a client trusts. */
export interface LoopbackTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/** Makes a fresh certificate with openssl, valid for a day, for TLS between loopback test servers and clients. */
export function loopbackTlsFiles(): LoopbackTlsFiles {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-tls-'));
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'ignore' },
  );
  return { certFile, keyFile };
}
