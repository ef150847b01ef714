import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '@shoal/processor-sdk';
import { credsAuthenticator, nkeyAuthenticator, type ConnectionOptions } from '@nats-io/transport-node';

/** Files for a TLS connection to NATS; any of them may be left out (a CA the system trusts needs none). */
export interface NatsTlsOptions {
  /** The CA certificate that signed the server's certificate (PEM). */
  readonly caFile?: string;
  /** This client's certificate and key (PEM), for servers that verify clients. */
  readonly certFile?: string;
  readonly keyFile?: string;
}

/**
 * How a worker proves who it is to NATS: one of user and password, a token, a creds file (JWT
 * and nkey seed, as `nsc` writes them), or an nkey seed file; and TLS, which `true` asks for
 * with the system's trusted CAs. Passed to the NATS client as they are.
 */
export interface NatsAuthOptions {
  readonly user?: string;
  readonly pass?: string;
  readonly token?: string;
  readonly credsFile?: string;
  readonly nkeySeedFile?: string;
  readonly tls?: NatsTlsOptions | boolean;
}

/**
 * The client's connection options for `auth`. Files are read now, once, and their contents
 * handed to the client, so a missing or unreadable one fails at start with its path named.
 */
export function natsAuthOptions(auth: NatsAuthOptions): Partial<ConnectionOptions> {
  const ways = (['user', 'token', 'credsFile', 'nkeySeedFile'] as const).filter((key) => auth[key] !== undefined);
  if (ways.length > 1) throw new InvalidArgumentError(`NATS: give one way to authenticate, got ${ways.join(' and ')}`);
  if (auth.pass !== undefined && auth.user === undefined) throw new InvalidArgumentError('NATS: pass needs user');
  const options: Partial<ConnectionOptions> = {};
  if (auth.user !== undefined) Object.assign(options, { user: auth.user, pass: auth.pass });
  if (auth.token !== undefined) options.token = auth.token;
  if (auth.credsFile !== undefined) options.authenticator = credsAuthenticator(readNatsFile(auth.credsFile, 'credsFile'));
  if (auth.nkeySeedFile !== undefined) {
    const seed = new TextDecoder().decode(readNatsFile(auth.nkeySeedFile, 'nkeySeedFile')).trim();
    options.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (auth.tls === true) options.tls = {};
  else if (auth.tls) {
    const pem = (path: string | undefined, field: string) =>
      path === undefined ? undefined : new TextDecoder().decode(readNatsFile(path, `tls.${field}`));
    const [ca, cert, key] = [pem(auth.tls.caFile, 'caFile'), pem(auth.tls.certFile, 'certFile'), pem(auth.tls.keyFile, 'keyFile')];
    options.tls = { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
  }
  return options;
}

function readNatsFile(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new InvalidArgumentError(`NATS ${what}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}
