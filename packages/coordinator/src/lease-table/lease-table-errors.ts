import { ShoalError, type ShoalErrorOptions } from '@shoal/processor-sdk';

/** The lease table exists but its key schema is not Shoal's; nothing is written to it. */
export class LeaseTableSchemaError extends ShoalError {
  override readonly name = 'LeaseTableSchemaError';
  constructor(message: string, options?: ShoalErrorOptions) {
    super('LEASE_TABLE_SCHEMA', message, options);
  }
}

/** A DynamoDB call failed for a reason other than a lost condition (throttling, network, ...). */
export class LeaseTableError extends ShoalError {
  override readonly name = 'LeaseTableError';
  constructor(message: string, options?: ShoalErrorOptions) {
    super('DYNAMODB', message, options);
  }
}
