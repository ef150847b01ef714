import { ShoalError, type ShoalErrorOptions } from '@shoal/processor-sdk';

/** Worker options failed validation; `issues` names every bad field. */
export class InvalidOptionsError extends ShoalError {
  override readonly name = 'InvalidOptionsError';
  constructor(
    readonly issues: readonly string[],
    options?: ShoalErrorOptions,
  ) {
    super('INVALID_OPTIONS', `invalid worker options:\n  - ${issues.join('\n  - ')}`, options);
  }
}
