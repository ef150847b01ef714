import type { Lease, WorkerRecord } from '@shoal/coordinator';

/** What the planning worker knows of streams: its own listing, and its own choice of streams. */
export interface PlannerStreams {
  /** Whether the planner consumes the lease's stream now (its choice, as last listed). */
  readonly consumes: (lease: Pick<Lease, 'streamName'>) => boolean;
  /** Whether the planner's own choice names the stream (in its list, or matching its pattern), listed or not. */
  readonly selects: (streamName: string) => boolean;
}

/** Every worker planned over may run the lease. */
export const EVERYONE = 'everyone';

/**
 * Which of the planned-over workers may be handed which lease, from the streams each worker's
 * record says it consumes. Workers of one fleet agree on their streams except while a deploy
 * changes the list or pattern: a lease must then go only to a worker that will run it, or the
 * same plan hands it to the same refusing worker for ever.
 *
 * A worker may run a lease when its record lists the lease's stream (a pattern's matches as the
 * worker last listed them, so no planner ever runs another worker's pattern) and, where the
 * planner's own choice covers that stream too, the planner's last listing has it (a deleted
 * stream is nobody's). A record that lists nothing (a single-stream namespace) takes what the
 * planner consumes. Answers are per stream, so a plan of 10,000 leases asks once per stream.
 */
export class StreamEligibility {
  private readonly byStream = new Map<string | undefined, ReadonlySet<string> | typeof EVERYONE>();

  /** Workers grouped by the list their records hold (usually one list for the whole fleet). */
  private readonly groups: { readonly streams: ReadonlySet<string> | undefined; readonly workerIds: readonly string[] }[];

  constructor(
    private readonly workers: readonly WorkerRecord[],
    private readonly planner: PlannerStreams,
  ) {
    const byList = new Map<string, { streams: ReadonlySet<string> | undefined; workerIds: string[] }>();
    for (const worker of workers) {
      const key = worker.streams === undefined ? '' : `=${worker.streams.join('\n')}`;
      let group = byList.get(key);
      if (!group) byList.set(key, (group = { streams: worker.streams && new Set(worker.streams), workerIds: [] }));
      group.workerIds.push(worker.workerId);
    }
    this.groups = [...byList.values()];
  }

  /** Whether any worker planned over may run the lease. */
  anyone(lease: Pick<Lease, 'streamName'>): boolean {
    const eligible = this.eligible(lease);
    return eligible === EVERYONE ? this.workers.length > 0 : eligible.size > 0;
  }

  /** The workers that may run the lease, or `everyone`. */
  eligible(lease: Pick<Lease, 'streamName'>): ReadonlySet<string> | typeof EVERYONE {
    const known = this.byStream.get(lease.streamName);
    if (known !== undefined) return known;
    const allowed = new Set(this.groups.filter((group) => this.mayRun(group.streams, lease)).flatMap((group) => group.workerIds));
    const answer = allowed.size === this.workers.length ? EVERYONE : allowed;
    this.byStream.set(lease.streamName, answer);
    return answer;
  }

  private mayRun(streams: ReadonlySet<string> | undefined, lease: Pick<Lease, 'streamName'>): boolean {
    const { planner } = this;
    if (streams === undefined) return planner.consumes(lease);
    const streamName = lease.streamName;
    if (streamName === undefined || !streams.has(streamName)) return false;
    return planner.consumes(lease) || !planner.selects(streamName);
  }
}
