import { readFileSync } from 'node:fs';

/**
 * Side effects (lines of the shared file worker processes append to, see
 * fixtures/worker-process.mjs) made by an epoch older than one that already made a side effect
 * on the same shard: a worker went on after the next owner started. The file's line order is the
 * true order of the side effects.
 */
export function overlappingSideEffects(file: string): string[] {
  const newest = new Map<string, number>();
  const late: string[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
    const [shardId, epochText] = line.split(' ');
    const epoch = Number(epochText);
    if (epoch < (newest.get(shardId!) ?? 0)) late.push(line);
    else newest.set(shardId!, epoch);
  }
  return late;
}

/** How many side effects `workerId` made on `shardId` in the ownership period `epoch`. */
export function sideEffectsBy(file: string, shardId: string, workerId: string, epoch: number): number {
  const prefix = `${shardId} ${epoch} ${workerId} `;
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith(prefix)).length;
}
