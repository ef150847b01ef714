/**
 * A chaos worker: one Shoal worker in its own OS process, run by the chaos runner with
 * `node chaos/dist/worker.js` and an IPC channel. It is wired like a production worker (NATS
 * coordination bus, Redis read budget and load store, default lease and coordination timings),
 * starts at TRIM_HORIZON, and runs the chaos processor. Its AWS SDK clients carry fault
 * middleware that the runner switches on over IPC; its pino log goes to stderr, which the runner
 * sends to a file of its own.
 *
 * Configuration: the emulator endpoints in the environment (`endpointsFromEnv`) and
 * `CHAOS_WORKER_CONFIG`, a JSON {@link ChaosWorkerConfig}.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NatsCoordinationBus, RedisShardReadBudget, RedisWorkerLoadStore, connectNats } from '@shoal/coordinator';
import { emulatorClientConfig, endpointsFromEnv } from '@shoal/local-stack';
import { Worker, shutdownOnSignals } from '@shoal/runtime';
import { pino } from 'pino';
import { chaosProcessorFactory } from './chaos-processor.js';
import { injectDynamoDbFaults, injectKinesisFaults } from './fault-middleware.js';
import { FaultSwitch } from './fault-switch.js';
import { isRunnerMessage, type ChaosWorkerConfig, type WorkerMessage } from './ipc-messages.js';
import { SharedLog } from './shared-log.js';

/** The worker's DynamoDB request timeout (the default), and how long a delayed reply is held: well past it. */
const DYNAMODB_REQUEST_TIMEOUT_MS = 2_000;
const DYNAMODB_DELAY_MS = DYNAMODB_REQUEST_TIMEOUT_MS + 1_000;

const configText = process.env.CHAOS_WORKER_CONFIG;
const endpoints = endpointsFromEnv();
if (!configText || !endpoints) throw new Error('chaos worker: CHAOS_WORKER_CONFIG or the emulator endpoints are missing');
const config = JSON.parse(configText) as ChaosWorkerConfig;
const { workerId, applicationName } = config;

const send = (message: WorkerMessage) => {
  if (process.connected) process.send?.(message);
};
// The runner is gone (it crashed or was killed): nobody will stop this process any more.
const onRunnerGone = () => process.exit(1);
process.once('disconnect', onRunnerGone);

const logger = pino({ level: config.workerLogLevel, base: { workerId } }, pino.destination({ fd: 2, sync: true }));
const faults = new FaultSwitch(config.seed);
process.on('message', (message) => {
  if (isRunnerMessage(message)) {
    faults.activate(message.fault, message.durationMs, message.probability);
    logger.warn({ fault: message.fault, durationMs: message.durationMs, probability: message.probability }, 'chaos fault switched on');
  }
});

const kinesis = new KinesisClient(emulatorClientConfig('kinesis', endpoints));
injectKinesisFaults(kinesis, faults);
const dynamoDb = new DynamoDBClient(emulatorClientConfig('dynamodb', endpoints));
injectDynamoDbFaults(dynamoDb, faults, DYNAMODB_DELAY_MS);

const link = connectNats({ servers: config.natsUrl, name: workerId, logger, reconnectTimeWaitMs: 250 });
const coordinationBus = new NatsCoordinationBus({ link, application: applicationName, streamName: config.streamName, logger });
await link.ready(2_000);
const readBudget = await RedisShardReadBudget.create({ redis: config.redisUrl, logger });
const workerLoadStore = await RedisWorkerLoadStore.create({ redis: config.redisUrl, logger });
const log = SharedLog.open(config.logPath);

const worker = await Worker.create({
  applicationName,
  streamName: config.streamName,
  leaseTableName: config.leaseTableName,
  workerId,
  initialPosition: 'TRIM_HORIZON',
  kinesis,
  dynamoDb,
  dynamoDbRequestTimeoutMs: DYNAMODB_REQUEST_TIMEOUT_MS,
  coordinationBus,
  readBudget,
  workerLoadStore,
  logger,
  processorFactory: chaosProcessorFactory({ workerId, log }),
});
shutdownOnSignals(worker);
send({ type: 'running' });
await worker.run();
await worker.close();
await coordinationBus.close();
await link.close();
await readBudget.close();
await workerLoadStore.close();
kinesis.destroy();
dynamoDb.destroy();
log.close();
send({ type: 'stopped' });
process.off('disconnect', onRunnerGone);
process.exit(0);
