import { describe, expect, it } from 'vitest';
import { cli } from './support/cli.js';

describe('shoal command line', () => {
  it.each([
    [['watch'], "required option '--application <name>' not specified"],
    [['watch', '--application', ' '], "option '--application <name>' argument ' ' is invalid. must not be empty."],
    [['watch', '--application', 'a', '--connect-timeout-ms', '5s'], "option '--connect-timeout-ms <ms>' argument '5s' is invalid"],
    [['watch', '--application', 'a', '--connect-timeout-ms', '0'], 'must be a positive integer'],
    [
      ['watch', '--application', 'a', '--nats', 'http://127.0.0.1:4222'],
      "option '--nats <url>' argument 'http://127.0.0.1:4222' is invalid",
    ],
    [['watch', '--application', 'a', '--colour'], "unknown option '--colour'"],
    [['wach'], "unknown command 'wach'"],
    [['replicate', '--to', 'eu'], "required option '--from <stream>' not specified"],
    [['replicate', '--from', 'orders'], "required option '--to <streams>' not specified"],
    [['replicate', '--from', 'orders', '--to', ' , '], "option '--to <streams>' argument ' , ' is invalid"],
    [
      ['replicate', '--from', 'orders', '--to', 'eu', '--kpl', 'zip'],
      "argument 'zip' is invalid. Allowed choices are forward, deaggregate.",
    ],
    [['replicate', '--from', 'orders', '--to', 'eu', '--processor', 'p.js'], "unknown option '--processor'"],
    [['replicate', '--from', 'orders', '--to', 'eu,orders'], 'shoal replicate: --to orders: the worker reads that stream'],
    [['replicate', '--from', 'orders', '--to', 'eu,us,eu'], 'shoal replicate: --to names eu twice'],
    [['worker', '--processor', 'p.js', '--stream', 'orders', '--kpl', 'forward'], '--kpl applies to copying a stream only'],
  ])('%j fails naming the problem', async (argv, message) => {
    const { code, stdout, stderr } = await cli(...argv);
    expect(code).toBe(1);
    expect(stderr).toContain(message);
    expect(stdout).toBe('');
  });

  it('prints help on stdout and exits 0', async () => {
    const { code, stdout } = await cli('watch', '--help');
    expect(code).toBe(0);
    expect(stdout).toContain('--connect-timeout-ms <ms>');
    expect(stdout).toContain('(default: "nats://127.0.0.1:4222")');
  });
});
