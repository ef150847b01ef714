import type { TrafficMinute } from '../scaling-planner.js';
import { seededRandom } from './seeded-random.js';

export interface SyntheticTrafficOptions {
  /** Minutes to generate. Default a week (10,080). */
  readonly minutes?: number;
  /** Bytes a second at the daily peak of a weekday. Default 8 MiB. */
  readonly peakBytesPerSecond?: number;
  /** Average record size. Default 1,000 bytes. */
  readonly recordBytes?: number;
  /** The night's traffic as a fraction of the day's peak. Default 0.35. */
  readonly nightFraction?: number;
  /** Weekend days' traffic as a fraction of weekdays'. Default 0.7. */
  readonly weekendFraction?: number;
  /** Spikes a day on average. Default 2. */
  readonly spikesPerDay?: number;
  /** A spike multiplies traffic by 1 + up to this. Default 0.15. */
  readonly maxSpike?: number;
  readonly seed?: number;
  /** Epoch ms of the first minute (a Monday at 00:00 UTC by default). */
  readonly start?: number;
}

const MINUTES_A_DAY = 1_440;

/**
 * A week (or any span) of per-minute write traffic: a daily cycle (lowest at 04:00, highest at
 * 16:00), weekends lower, a little noise, and sudden seeded spikes that start at full height and
 * last 10 to 45 minutes.
 */
export function syntheticTraffic(options: SyntheticTrafficOptions = {}): TrafficMinute[] {
  const minutes = options.minutes ?? 7 * MINUTES_A_DAY;
  const peak = options.peakBytesPerSecond ?? 8 * 1024 * 1024;
  const recordBytes = options.recordBytes ?? 1_000;
  const night = options.nightFraction ?? 0.35;
  const weekend = options.weekendFraction ?? 0.7;
  const spikesPerDay = options.spikesPerDay ?? 2;
  const maxSpike = options.maxSpike ?? 0.15;
  const start = options.start ?? Date.UTC(2026, 0, 5);
  const random = seededRandom(options.seed ?? 42);

  const spikes: { from: number; to: number; factor: number }[] = [];
  for (let minute = 0; minute < minutes; minute += 1) {
    if (random() < spikesPerDay / MINUTES_A_DAY) {
      spikes.push({ from: minute, to: minute + 10 + Math.floor(random() * 35), factor: 1 + maxSpike * (0.3 + 0.7 * random()) });
    }
  }
  let noise = 0;
  const traffic: TrafficMinute[] = [];
  for (let minute = 0; minute < minutes; minute += 1) {
    const day = Math.floor(minute / MINUTES_A_DAY);
    const hour = (minute % MINUTES_A_DAY) / 60;
    // 0 at 04:00, 1 at 16:00.
    const cycle = (1 - Math.cos(((hour - 4) / 24) * 2 * Math.PI)) / 2;
    const daily = night + (1 - night) * cycle;
    const weekly = day % 7 >= 5 ? weekend : 1;
    noise = 0.8 * noise + 0.2 * (random() * 2 - 1) * 0.05;
    const spike = spikes.filter((s) => minute >= s.from && minute < s.to).reduce((factor, s) => Math.max(factor, s.factor), 1);
    const bytesPerSecond = peak * daily * weekly * (1 + noise) * spike;
    traffic.push({
      at: start + minute * 60_000,
      incomingBytes: bytesPerSecond * 60,
      incomingRecords: (bytesPerSecond * 60) / recordBytes,
    });
  }
  return traffic;
}
