import { describe, expect, it } from 'vitest';
import { cli } from './support/cli.js';
import { byteSize, fraction } from '../src/capacity-command.js';

describe('shoal capacity', () => {
  it('sizes 1,000 devices × 10 records/s × 1 KB for 2 consumers with 20 % headroom: 12 shards, 16 as a power of two', async () => {
    const { code, stdout } = await cli(
      'capacity',
      '--devices',
      '1000',
      '--rate',
      '10',
      '--record-size',
      '1KB',
      '--consumers',
      '2',
      '--headroom',
      '20%',
    );
    expect(code).toBe(0);
    expect(stdout.split('\n')).toEqual([
      'shards: 12 (16 as a power of two)',
      '  records in: 1,000 producers × 10 records/s = 10,000 records/s',
      '  bytes in: 10,000 records/s × 1,024 B = 10,000 KiB/s',
      '  by write records: 10,000 ÷ 1,000 = 10 shards',
      '  by write bytes: 10,000 KiB/s ÷ 1,024 = 9.77 shards',
      '  by reads: 2 polling consumers × 10,000 KiB/s ÷ 2,048 = 9.77 shards',
      '  binding: writes, 1,000 records/s per shard',
      '  with 20 % headroom: 10 × 1.2 = 12 → 12 shards',
      '  as a power of two: 16 shards',
      'at 12 shards each shard takes 83 % of its 1,000 records/s, 81 % of its 1 MiB/s of writes and 81 % of its 2 MiB/s of reads',
      'at 16 shards each shard takes 63 % of its 1,000 records/s, 61 % of its 1 MiB/s of writes and 61 % of its 2 MiB/s of reads',
      '',
    ]);
  });

  it('prints the plan as JSON', async () => {
    const { code, stdout } = await cli(
      'capacity',
      '--devices',
      '1000',
      '--rate',
      '10',
      '--record-size',
      '1KB',
      '--consumers',
      '2',
      '--json',
    );
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ shards: 12, powerOfTwoShards: 16, binding: 'write-records', recordsPerSecond: 10_000 });
  });

  it.each([
    [['capacity', '--rate', '1', '--record-size', '1KB'], "required option '--devices <n>' not specified"],
    [
      ['capacity', '--devices', '10', '--rate', '0', '--record-size', '1KB'],
      "option '--rate <records-per-second>' argument '0' is invalid. must be a number above 0.",
    ],
    [
      ['capacity', '--devices', '10', '--rate', '1', '--record-size', '2MB'],
      'must be more than 0 and at most 1MB, the largest Kinesis record.',
    ],
    [['capacity', '--devices', '10', '--rate', '1', '--record-size', '1KB', '--headroom', 'lots'], 'must be a percentage such as 20%'],
  ])('names what is wrong: %j', async (argv, message) => {
    const { code, stderr } = await cli(...argv);
    expect(code).toBe(1);
    expect(stderr).toContain(message);
  });

  it('reads sizes 1,024-based and headroom as a percentage or a fraction', () => {
    expect([byteSize('512'), byteSize('512B'), byteSize('1KB'), byteSize('1.5KiB'), byteSize('1MB')]).toEqual([
      512, 512, 1024, 1536, 1048576,
    ]);
    expect([fraction('20%'), fraction('0.2'), fraction('0')]).toEqual([0.2, 0.2, 0]);
  });
});
