import { startRedisCluster } from '../test/helpers/redis-cluster';
import { runEndToEndBench } from './e2e';
import { printTable, progress, Row } from './lib';

/**
 * The end-to-end suite twice, the same way: on one Redis, then on a
 * three-master Redis Cluster started on loopback ports for the run (every
 * process gets REDIS_CLUSTER_NODES). Prints both and the ratio of each
 * measure (cluster ÷ one Redis). On one machine the cluster's masters share
 * the cores with everything else: the ratio shows what the cluster costs per
 * message (routing by slot, a connection per master), not what it adds.
 */
export async function runClusterEndToEndBench(options: { rate?: number; burst?: number; runs?: number } = {}): Promise<Row[]> {
  const settings = { rate: options.rate ?? 100, burst: options.burst ?? 1500, runs: options.runs ?? 2 };
  progress('e2e-cluster: one Redis');
  const single = await runEndToEndBench({ ...settings, variant: 'one Redis' });
  progress('e2e-cluster: starting a three-master Redis Cluster');
  const cluster = await startRedisCluster();
  let clustered: Row[];
  try {
    clustered = await runEndToEndBench({ ...settings, env: { REDIS_CLUSTER_NODES: cluster.nodes }, variant: 'Redis Cluster ×3' });
  } finally {
    await cluster.stop();
  }
  const key = (row: Row, variant: string) => `${row.benchmark.replace(` (${variant})`, '')}|${row.metric}`;
  const byKey = new Map(single.map((row) => [key(row, 'one Redis'), row]));
  const ratios: Row[] = [];
  for (const row of clustered) {
    const base = byKey.get(key(row, 'Redis Cluster ×3'));
    if (!base || !Number.isFinite(base.median) || base.median === 0) continue;
    const ratio = row.median / base.median;
    ratios.push({ benchmark: 'cluster ÷ one Redis', metric: `${key(row, 'Redis Cluster ×3').replace('|', ': ')}`, median: Number(ratio.toFixed(2)), min: NaN, max: NaN, unit: '×', note: `${base.median} → ${row.median} ${row.unit}` });
  }
  return [...single, ...clustered, ...ratios];
}

if (require.main === module) void runClusterEndToEndBench().then(printTable);
