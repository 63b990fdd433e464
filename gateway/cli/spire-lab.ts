/**
 * A real SPIRE deployment for the lab and the test/spire suite: one spire-server and one spire-agent,
 * local to a directory, in trust domain `plant.example` by default [docs/architecture.md "SPIRE facts"].
 *
 * startSpireLab() renders spire-config/server.conf + agent.conf into `dir`, starts the server, waits for
 * `healthcheck`, writes the bootstrap bundle (`bundle show`), generates a join token for the node alias
 * spiffe://<td>/lab-node, starts the agent with it and waits for the agent's health. Workload entries are
 * children of that node alias. Note: from `entry create` to a fetchable SVID takes a few seconds, and a
 * Workload API stream's first message blocks until the SVID is minted.
 */
import { mkdir, writeFile, access } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import { GatewayError } from '../errors.js';
import { writeLabConfigs } from './spire-lab-config.js';
import { findProjectRoot, findSpireBinaries, BUILD_HINT, type SpireBinaries } from './spire-paths.js';
import { startDaemon, logTail, runCommand, runChecked, pollUntil, type Daemon } from './spire-process.js';

export { findSpireBinaries, BUILD_HINT, type SpireBinaries } from './spire-paths.js';

export type SpireLabLogger = Pick<Logger, 'info' | 'warn' | 'debug'>;

export interface SpireLabOptions {
  /** Lab directory (created if missing); keep it short: unix socket paths are limited to 107 bytes. */
  readonly dir: string;
  readonly trustDomain?: string;
  /** Directory holding spire-server and spire-agent; default: findSpireBinaries(). */
  readonly binDir?: string;
  readonly logger?: SpireLabLogger;
  /** Bound for each readiness wait (server, agent); default 30 s. */
  readonly readyTimeoutMs?: number;
}

export interface CreateEntryOptions {
  readonly spiffeId: string;
  /** e.g. `unix:uid:0`; at least one. */
  readonly selectors: readonly string[];
  readonly x509SvidTtlSeconds?: number;
  /** DNS SANs for the SVID (`-dns`), for stock clients that verify a hostname. */
  readonly dnsNames?: readonly string[];
}

export interface MintedSvid {
  readonly certPath: string;
  readonly keyPath: string;
  readonly bundlePath: string;
}

export interface SpireLab {
  readonly dir: string;
  readonly trustDomain: string;
  /** Workload API socket path (address: `unix://` + agentSocket). */
  readonly agentSocket: string;
  /** Server API socket path (for spire-server CLI `-socketPath`). */
  readonly serverSocket: string;
  /** The node alias every entry is parented to: spiffe://<td>/lab-node. */
  readonly nodeId: string;
  /** The trust bundle (PEM) the agent bootstrapped from. */
  readonly bundlePath: string;
  readonly binaries: SpireBinaries;
  createEntry(opts: CreateEntryOptions): Promise<void>;
  /** An SVID minted by the server (`spire-server x509 mint`), written as svid.pem, key.pem, bundle.pem. */
  mintX509(spiffeId: string, ttlSeconds: number, outDir: string): Promise<MintedSvid>;
  /** Stops the agent (SIGTERM) and starts it again; it resumes with its stored SVID (disk key manager). */
  restartAgent(): Promise<void>;
  /** Stops agent then server; bounded; idempotent. */
  stop(): Promise<void>;
}

const SUN_PATH_MAX = 107;
const STOP_GRACE_MS = 5000;

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

function daemonDiedReason(d: Daemon): string | null {
  return d.isRunning() ? null : `${d.name} exited; last log lines:\n${logTail(d.logFile)}`;
}

export async function startSpireLab(opts: SpireLabOptions): Promise<SpireLab> {
  const log: SpireLabLogger = opts.logger ?? pino({ level: 'silent' });
  const trustDomain = opts.trustDomain ?? 'plant.example';
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  const binaries = findSpireBinaries(opts.binDir);
  if (!binaries) {
    const only = opts.binDir ?? process.env['SPIRE_BIN_DIR'];
    const where = only ? `in ${only}` : 'in .spire/bin or on PATH';
    throw new GatewayError('GW_ERR_SPIRE_LAB', `spire-lab: spire-server/spire-agent not found ${where}: ${BUILD_HINT}`);
  }
  const root = findProjectRoot();
  if (!root) throw new GatewayError('GW_ERR_SPIRE_LAB', 'spire-lab: spire-config/server.conf not found above this module or the cwd');

  const dir = resolve(opts.dir);
  const agentSocket = join(dir, 'agent', 'public', 'api.sock');
  const serverSocket = join(dir, 'server', 'api.sock');
  if (Buffer.byteLength(agentSocket) > SUN_PATH_MAX) {
    throw new GatewayError('GW_ERR_SPIRE_LAB', `spire-lab: lab dir too long for a unix socket path: ${agentSocket}`);
  }
  for (const sub of ['server/data', 'agent/data', 'agent/public']) await mkdir(join(dir, sub), { recursive: true });
  const port = await freePort();
  const confs = await writeLabConfigs(join(root, 'spire-config'), dir, {
    SPIRE_LAB_DIR: dir,
    SPIRE_TRUST_DOMAIN: trustDomain,
    SPIRE_SERVER_PORT: String(port),
  });
  const bundlePath = join(dir, 'bootstrap.pem');
  const nodeId = `spiffe://${trustDomain}/lab-node`;
  const srv = (args: string[]): string[] => [...args, '-socketPath', serverSocket];

  const server = startDaemon('spire-server', binaries.server, ['run', '-config', confs.serverConf], join(dir, 'server.log'));
  let agent: Daemon | null = null;
  let joinToken = '';
  log.info({ dir, serverPid: server.pid, port }, 'spire-lab: spire-server started');

  const startAgent = async (): Promise<Daemon> => {
    const d = startDaemon('spire-agent', binaries.agent, ['run', '-config', confs.agentConf, '-joinToken', joinToken], join(dir, 'agent.log'));
    log.info({ agentPid: d.pid }, 'spire-lab: spire-agent started');
    try {
      await pollUntil(async () => (await runCommand(binaries.agent, ['healthcheck', '-socketPath', agentSocket])).code === 0, {
        timeoutMs: readyTimeoutMs,
        what: 'waiting for spire-agent healthcheck',
        abortIf: () => daemonDiedReason(d),
      });
    } catch (err) {
      await d.stop(STOP_GRACE_MS);
      throw err;
    }
    return d;
  };

  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await agent?.stop(STOP_GRACE_MS);
      await server.stop(STOP_GRACE_MS);
      log.info({ dir }, 'spire-lab: stopped');
    })();
    return stopped;
  };

  try {
    await pollUntil(async () => (await runCommand(binaries.server, srv(['healthcheck']))).code === 0, {
      timeoutMs: readyTimeoutMs,
      what: 'waiting for spire-server healthcheck',
      abortIf: () => daemonDiedReason(server),
    });
    await writeFile(bundlePath, await runChecked(binaries.server, srv(['bundle', 'show']), 'bundle show'));
    const tokenOut = await runChecked(binaries.server, srv(['token', 'generate', '-spiffeID', nodeId, '-ttl', '600']), 'token generate');
    const m = /Token:\s*(\S+)/.exec(tokenOut);
    if (!m?.[1]) throw new GatewayError('GW_ERR_SPIRE_LAB', `spire-lab: unexpected token generate output: ${tokenOut.trim()}`);
    joinToken = m[1];
    agent = await startAgent();
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    dir,
    trustDomain,
    agentSocket,
    serverSocket,
    nodeId,
    bundlePath,
    binaries,
    async createEntry(e: CreateEntryOptions): Promise<void> {
      if (e.selectors.length === 0) throw new GatewayError('GW_ERR_SPIRE_LAB', 'spire-lab: createEntry needs at least one selector');
      const args = ['entry', 'create', '-parentID', nodeId, '-spiffeID', e.spiffeId];
      for (const s of e.selectors) args.push('-selector', s);
      if (e.x509SvidTtlSeconds !== undefined) args.push('-x509SVIDTTL', String(e.x509SvidTtlSeconds));
      for (const d of e.dnsNames ?? []) args.push('-dns', d);
      await runChecked(binaries.server, srv(args), `entry create ${e.spiffeId}`);
      log.info({ spiffeId: e.spiffeId, selectors: e.selectors }, 'spire-lab: entry created');
    },
    async mintX509(spiffeId: string, ttlSeconds: number, outDir: string): Promise<MintedSvid> {
      await mkdir(outDir, { recursive: true });
      await runChecked(
        binaries.server,
        srv(['x509', 'mint', '-spiffeID', spiffeId, '-ttl', `${ttlSeconds}s`, '-write', outDir]),
        `x509 mint ${spiffeId}`,
      );
      const out = { certPath: join(outDir, 'svid.pem'), keyPath: join(outDir, 'key.pem'), bundlePath: join(outDir, 'bundle.pem') };
      for (const p of Object.values(out)) await access(p);
      return out;
    },
    async restartAgent(): Promise<void> {
      if (stopped) throw new GatewayError('GW_ERR_SPIRE_LAB', 'spire-lab: restartAgent after stop');
      await agent?.stop(STOP_GRACE_MS);
      agent = await startAgent();
    },
    stop,
  };
}
