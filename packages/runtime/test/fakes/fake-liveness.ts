import type { LivenessView } from '../../src/consumer/liveness-view.js';

/** Liveness a test turns off and on: `fence()` aborts the current period's signal, as the deadline passing would. */
export class FakeLiveness implements LivenessView {
  private fenced = false;
  private period = new AbortController();

  isFenced(): boolean {
    return this.fenced;
  }

  remainingMs(): number {
    return this.fenced ? 0 : 1_500;
  }

  signal(): AbortSignal {
    if (!this.fenced && this.period.signal.aborted) this.period = new AbortController();
    return this.period.signal;
  }

  fence(): void {
    this.fenced = true;
    this.period.abort(new Error('liveness unconfirmed (test)'));
  }

  confirm(): void {
    this.fenced = false;
  }
}
