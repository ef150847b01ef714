/**
 * `pnpm bench <name>`: runs one benchmark, prints its table and writes
 * bench/results/<name>.json. Without a name, lists the benchmarks.
 */
const benchmarks: Record<string, () => Promise<{ run(): Promise<void> }>> = {
  planner: () => import('./planner.js'),
  throughput: () => import('./throughput.js'),
  handoff: () => import('./handoff.js'),
  failover: () => import('./failover.js'),
  scaleout: () => import('./scaleout.js'),
  'ddb-cost': () => import('./ddb-cost.js'),
  'fleet-cost': () => import('./fleet-cost.js'),
  'fleet-scale': () => import('./fleet-scale.js'),
  'read-budget': () => import('./read-budget.js'),
  replicate: () => import('./replicate.js'),
  efo: () => import('./efo.js'),
  autoscale: () => import('./autoscale.js'),
  'node-capacity': () => import('./node-capacity.js'),
  reshard: () => import('./reshard.js'),
  'rolling-deploy': () => import('./rolling-deploy.js'),
};

const name = process.argv[2];
const load = name ? benchmarks[name] : undefined;
if (!load) {
  process.stderr.write(`usage: pnpm bench <${Object.keys(benchmarks).join('|')}>\n`);
  process.exit(name ? 2 : 0);
}
const benchmark = await load();
await benchmark.run();
process.exit(0);
