import { connectNats, coordinationSubjects, type FleetEvent } from '@shoal/coordinator';
import type { CliIo } from './program.js';

export interface FleetPromptTarget {
  readonly nats: string;
  readonly connectTimeoutMs: number;
  readonly application: string;
  /** The stream of a single-stream fleet; undefined for a fleet of several streams. */
  readonly streamName: string | undefined;
}

/**
 * Publishes events on a fleet's coordination subjects, as prompts: workers only read the lease
 * table sooner because of them. Resolves whether they went out (false when NATS does not answer
 * within the timeout); never throws.
 */
export async function promptFleet(target: FleetPromptTarget, events: readonly FleetEvent[], io: CliIo): Promise<boolean> {
  if (events.length === 0) return true;
  const link = connectNats({ servers: target.nats, name: `shoal-cli-${target.application}`, logger: io.logger });
  try {
    if (!(await link.ready(target.connectTimeoutMs))) return false;
    const connection = link.connection()!;
    const subjects = coordinationSubjects(target.application, target.streamName);
    for (const event of events) connection.publish(subjects.event(event.type), JSON.stringify(event));
    await connection.flush();
    return true;
  } catch (error) {
    io.logger.warn({ err: error }, 'could not tell the fleet over NATS');
    return false;
  } finally {
    await link.close();
  }
}
