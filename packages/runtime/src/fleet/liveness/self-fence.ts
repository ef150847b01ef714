import type { Logger } from '@shoal/coordinator';

/**
 * Stops every lease once per loss of liveness: the first report tells the host, later ones
 * are quiet until liveness was confirmed again (`reset`).
 */
export class SelfFence {
  private reported = false;

  constructor(
    private readonly onFenced: () => void,
    private readonly logger: Logger,
  ) {}

  report(): void {
    if (this.reported) return;
    this.reported = true;
    this.logger.error('liveness lost: stopping every lease before others may take them');
    this.onFenced();
  }

  reset(): void {
    this.reported = false;
  }
}
