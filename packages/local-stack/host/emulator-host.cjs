'use strict';
/**
 * Emulator host: runs ONE emulator (kinesalite, dynalite or kinesis-local) in this process,
 * bound to 127.0.0.1 on a free port, and reports that port to the parent over IPC.
 *
 * Usage (the parent must open an IPC channel, e.g. `stdio: ['ignore', 'pipe', 'pipe', 'ipc']`):
 *
 *   node emulator-host.cjs <kinesalite|dynalite|kinesis-local> '<json options>'
 *
 * Options: `{ "shardLimit": number, "region": string, "logLevel": string }` (all optional).
 *
 * Messages sent to the parent:
 *   { type: 'ready', emulator, port, pid }   the emulator accepts connections on 127.0.0.1:port
 *   { type: 'error', emulator, message }     start-up failed; the host exits with code 1 right after
 *
 * The host exits by itself when the parent goes away (the IPC channel disconnects), so an
 * emulator never outlives the process that started it, even if that process is SIGKILLed.
 *
 * This is a plain CommonJS file on purpose: it runs unchanged whether the package is used from
 * its TypeScript sources (vitest) or from its compiled `dist/`, and it needs no build step.
 */
const net = require('node:net');
const path = require('node:path');

// kinesis-local (a cats-effect IOApp) replaces `process.exit` with a "graceful" exit that waits
// for open connections to drain (seconds). Keep the real one: the host must stop at once.
const exit = process.exit.bind(process);

const emulator = process.argv[2];
/** @type {{ shardLimit?: number, region?: string, logLevel?: string }} */
let options = {};
try {
  options = JSON.parse(process.argv[3] || '{}');
} catch (err) {
  process.stderr.write(`emulator-host: bad options JSON: ${String(err)}\n`);
  exit(2);
}

if (typeof process.send !== 'function') {
  process.stderr.write('emulator-host: must be started with an IPC channel\n');
  exit(2);
}

// The parent is gone (exited, crashed, was killed, or called child.disconnect()): stop too.
process.on('disconnect', () => exit(0));
// kinesis-local installs its own SIGTERM/SIGINT handlers that close its ports but never exit;
// registering ours makes SIGTERM end the host for every emulator.
process.on('SIGTERM', () => exit(0));
process.on('SIGINT', () => exit(0));

function send(message) {
  if (process.connected) process.send(message);
}

function fail(err) {
  const message = err instanceof Error ? err.stack || err.message : String(err);
  process.stderr.write(`emulator-host(${emulator}): ${message}\n`);
  if (process.connected) {
    // Exit once the message is flushed (or at once if the channel breaks).
    process.send({ type: 'error', emulator, message }, () => exit(1));
    setTimeout(() => exit(1), 1000).unref();
  } else {
    exit(1);
  }
}

function ready(port) {
  send({ type: 'ready', emulator, port, pid: process.pid });
}

const shardLimit = Number.isInteger(options.shardLimit) && options.shardLimit > 0 ? options.shardLimit : 200;
const region = typeof options.region === 'string' && options.region !== '' ? options.region : 'us-east-1';

function startKinesalite() {
  const server = require('kinesalite')({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit });
  server.on('error', fail);
  server.listen(0, '127.0.0.1', () => ready(server.address().port));
}

function startDynalite() {
  const server = require('dynalite')({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  server.on('error', fail);
  server.listen(0, '127.0.0.1', () => ready(server.address().port));
}

/** A port that was free on 127.0.0.1 a moment ago. */
function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/**
 * kinesis-local (the Scala.js build of kinesis-mock) reads its configuration from the
 * environment when its bundle is loaded, binds a plain-HTTP and a TLS port on all interfaces,
 * and ignores SIGTERM. We load it in this process so our disconnect handler can end it.
 *
 * Its plain port is configured as 0 (the OS picks a free one, no race); its TLS port, which
 * Shoal never uses, is a port picked free just before. `net.Server.prototype.listen` is
 * wrapped to bind both to 127.0.0.1 only and to learn the plain port once it is bound.
 */
async function startKinesisLocal() {
  const packageDir = path.dirname(require.resolve('kinesis-local/package.json'));
  const tlsPort = await freePort();
  const zero = '0ms';
  Object.assign(process.env, {
    KINESIS_MOCK_CERT_PATH: path.join(packageDir, 'server.json'),
    KINESIS_MOCK_PLAIN_PORT: '0',
    KINESIS_MOCK_TLS_PORT: String(tlsPort),
    CREATE_STREAM_DURATION: zero,
    DELETE_STREAM_DURATION: zero,
    REGISTER_STREAM_CONSUMER_DURATION: zero,
    DEREGISTER_STREAM_CONSUMER_DURATION: zero,
    START_STREAM_ENCRYPTION_DURATION: zero,
    STOP_STREAM_ENCRYPTION_DURATION: zero,
    MERGE_SHARDS_DURATION: zero,
    SPLIT_SHARD_DURATION: zero,
    UPDATE_SHARD_COUNT_DURATION: zero,
    UPDATE_STREAM_MODE_DURATION: zero,
    SHARD_LIMIT: String(shardLimit),
    AWS_REGION: region,
    LOG_LEVEL: typeof options.logLevel === 'string' ? options.logLevel : 'WARN',
    ROOT_LOG_LEVEL: 'ERROR',
    LOAD_DATA_IF_EXISTS: 'false',
    SHOULD_PERSIST_DATA: 'false',
  });

  let plainPort;
  let tlsBound = false;
  const maybeReady = () => {
    if (plainPort !== undefined && tlsBound) ready(plainPort);
  };

  const originalListen = net.Server.prototype.listen;
  net.Server.prototype.listen = function listenOnLoopback(...args) {
    const first = args[0];
    let requested;
    if (typeof first === 'number') {
      requested = first;
      if (typeof args[1] !== 'string') args.splice(1, 0, '127.0.0.1');
    } else if (first !== null && typeof first === 'object' && !Array.isArray(first) && 'port' in first) {
      requested = Number(first.port);
      if (first.host === undefined || first.host === '0.0.0.0' || first.host === '::') {
        args[0] = { ...first, host: '127.0.0.1' };
      }
    }
    if (requested === 0 || requested === tlsPort) {
      const isPlain = requested === 0;
      this.once('error', (err) => fail(new Error(`kinesis-local ${isPlain ? 'plain' : 'TLS'} port: ${err.message}`)));
      this.once('listening', () => {
        if (isPlain) plainPort = this.address().port;
        else tlsBound = true;
        maybeReady();
      });
    }
    return originalListen.apply(this, args);
  };

  require(path.join(packageDir, 'main.js'));
}

async function main() {
  switch (emulator) {
    case 'kinesalite':
      return startKinesalite();
    case 'dynalite':
      return startDynalite();
    case 'kinesis-local':
      return startKinesisLocal();
    default:
      throw new Error(`unknown emulator ${JSON.stringify(emulator)} (expected kinesalite, dynalite or kinesis-local)`);
  }
}

main().catch(fail);
