import type { Logger as PinoLogger } from 'pino';

/**
 * The structured logger Shoal components take: pino's interface, so any pino logger (or a
 * child of one) can be passed. Components add fixed keys: `workerId`, `shardId`, `leaseKey`.
 */
export type Logger = Pick<PinoLogger, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'child'>;
