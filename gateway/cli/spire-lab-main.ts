/**
 * `spire-lab up DIR` / `spire-lab down DIR`: the human entry point behind spire-config/lab.sh.
 * `up` runs a real SPIRE server + agent in the foreground until SIGINT/SIGTERM, writing DIR/lab.env
 * (SPIFFE_ENDPOINT_SOCKET, SPIRE_SERVER_SOCKET, ...) and DIR/lab.pid. `down` signals that process and
 * waits for it to stop its SPIRE daemons.
 */
import { readFile, writeFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { isGatewayError } from '../errors.js';
import { EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE, processIo, type CliCommand, type CliIo } from './cli-io.js';
import { startSpireLab } from './spire-lab.js';

const USAGE = 'usage: spire-lab up DIR [--trust-domain TD] | spire-lab down DIR';

async function up(dir: string, trustDomain: string | undefined, io: CliIo): Promise<number> {
  const lab = await startSpireLab({
    dir,
    ...(trustDomain ? { trustDomain } : {}),
    logger: pino({ level: io.env['LOG_LEVEL'] ?? 'info' }, pino.destination(2)),
  });
  const env = [
    `SPIFFE_ENDPOINT_SOCKET=unix://${lab.agentSocket}`,
    `SPIRE_SERVER_SOCKET=${lab.serverSocket}`,
    `SPIRE_TRUST_DOMAIN=${lab.trustDomain}`,
    `SPIRE_NODE_ID=${lab.nodeId}`,
    `SPIRE_BUNDLE=${lab.bundlePath}`,
  ];
  await writeFile(join(lab.dir, 'lab.env'), env.join('\n') + '\n');
  await writeFile(join(lab.dir, 'lab.pid'), `${process.pid}\n`);
  io.out(`SPIRE lab up in ${lab.dir} (logs: server.log, agent.log). Environment (also in lab.env):`);
  for (const line of env) io.out(`  ${line}`);
  io.out(`Register a workload (this user is uid ${process.getuid?.() ?? '?'}):`);
  io.out(`  ${lab.binaries.server} entry create -socketPath ${lab.serverSocket} -parentID ${lab.nodeId} \\`);
  io.out(`    -spiffeID spiffe://${lab.trustDomain}/gateway -selector unix:uid:${process.getuid?.() ?? 0}`);
  io.out('Ctrl-C (or `spire-config/lab.sh down DIR`) stops it.');
  await new Promise<void>((res) => {
    process.once('SIGINT', res);
    process.once('SIGTERM', res);
  });
  await lab.stop();
  await rm(join(lab.dir, 'lab.pid'), { force: true });
  io.out('SPIRE lab stopped.');
  return EXIT_OK;
}

async function down(dir: string, io: CliIo): Promise<number> {
  let pid: number;
  try {
    pid = Number.parseInt(await readFile(join(dir, 'lab.pid'), 'utf8'), 10);
  } catch {
    io.err(`spire-lab: no lab.pid in ${dir}: is a lab running there?`);
    return EXIT_CHECK_FAILED;
  }
  const alive = (): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!Number.isInteger(pid) || pid <= 0 || !alive()) {
    await rm(join(dir, 'lab.pid'), { force: true });
    io.out('spire-lab: lab was not running (stale lab.pid removed)');
    return EXIT_OK;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 15_000;
  while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (alive()) {
    io.err(`spire-lab: lab process ${pid} did not stop within 15 s`);
    return EXIT_CHECK_FAILED;
  }
  io.out('SPIRE lab stopped.');
  return EXIT_OK;
}

export const spireLabCommand: CliCommand = async (args, io) => {
  const [verb, dirArg, ...rest] = args;
  if (!dirArg || (verb !== 'up' && verb !== 'down')) {
    io.err(USAGE);
    return EXIT_USAGE;
  }
  const dir = resolve(io.cwd, dirArg);
  let trustDomain: string | undefined;
  if (rest[0] === '--trust-domain' && rest[1]) trustDomain = rest[1];
  else if (rest.length > 0) {
    io.err(USAGE);
    return EXIT_USAGE;
  }
  try {
    return verb === 'up' ? await up(dir, trustDomain, io) : await down(dir, io);
  } catch (err) {
    io.err(isGatewayError(err) ? `${err.code}: ${err.message}` : String(err));
    return EXIT_CHECK_FAILED;
  }
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await spireLabCommand(process.argv.slice(2), processIo());
}
