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
import { join, resolve } from 'node:path';
import { GatewayError } from '../errors.js';
import { nullLogger, type Logger } from '../logger.js';
import { freePort } from './free-port.js';
import { writeLabConfigs } from './spire-lab-config.js';
import { findProjectRoot, findSpireBinaries, BUILD_HINT, type SpireBinaries } from './spire-paths.js';
import { startDaemon, logTail, runCommand, runChecked, pollUntil, type Daemon } from './spire-process.js';

export { findSpireBinaries, BUILD_HINT, type SpireBinaries } from './spire-paths.js';

export interface SpireLabOptions {
  /** Lab directory (created if missing); keep it short: unix socket paths are limited to 107 bytes. */
  readonly dir: string;
  readonly trustDomain?: string;
  /** Directory holding spire-server and spire-agent; default: findSpireBinaries(). */
  readonly binDir?: string;
  readonly logger?: Logger;
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

function daemonDiedReason(d: Daemon): string | null {
  return d.isRunning() ? null : `${d.name} exited; last log lines:\n${logTail(d.logFile)}`;
}

/** Where the lab lives: binaries, project root (for the config templates), directory and socket paths. */
interface LabLayout {
  readonly dir: string;
  readonly trustDomain: string;
  readonly binaries: SpireBinaries;
  readonly configDir: string;
  readonly agentSocket: string;
  readonly serverSocket: string;
  readonly bundlePath: string;
  readonly nodeId: string;
}

function labLayout(opts: SpireLabOptions): LabLayout {
  const binaries = findSpireBinaries(opts.binDir);
  if (!binaries) {
    const only = opts.binDir ?? process.env['SPIRE_BIN_DIR'];
    const where = only ? `in ${only}` : 'in .spire/bin or on PATH';
    throw new GatewayError('GW_ERR_SPIRE_LAB', `spire-lab: spire-server/spire-agent not found ${where}: ${BUILD_HINT}`);
  }
  const root = findProjectRoot();
  if (!root)
    throw new GatewayError(
      'GW_ERR_SPIRE_LAB',
      'spire-lab: spire-config/server.conf not found above this module or the cwd',
    );
  const dir = resolve(opts.dir);
  const trustDomain = opts.trustDomain ?? 'plant.example';
  const agentSocket = join(dir, 'agent', 'public', 'api.sock');
  if (Buffer.byteLength(agentSocket) > SUN_PATH_MAX) {
    throw new GatewayError('GW_ERR_SPIRE_LAB', `spire-lab: lab dir too long for a unix socket path: ${agentSocket}`);
  }
  return {
    dir,
    trustDomain,
    binaries,
    configDir: join(root, 'spire-config'),
    agentSocket,
    serverSocket: join(dir, 'server', 'api.sock'),
    bundlePath: join(dir, 'bootstrap.pem'),
    nodeId: `spiffe://${trustDomain}/lab-node`,
  };
}

/** Creates the lab's directories and renders server.conf + agent.conf into it, on a free loopback port. */
async function writeLabFiles(l: LabLayout): Promise<{ serverConf: string; agentConf: string; port: number }> {
  for (const sub of ['server/data', 'agent/data', 'agent/public']) await mkdir(join(l.dir, sub), { recursive: true });
  const port = await freePort();
  const confs = await writeLabConfigs(l.configDir, l.dir, {
    SPIRE_LAB_DIR: l.dir,
    SPIRE_TRUST_DOMAIN: l.trustDomain,
    SPIRE_SERVER_PORT: String(port),
  });
  return { ...confs, port };
}

export async function startSpireLab(opts: SpireLabOptions): Promise<SpireLab> {
  const layout = labLayout(opts);
  const files = await writeLabFiles(layout);
  const lab = new RunningSpireLab(layout, files.agentConf, opts.logger ?? nullLogger, opts.readyTimeoutMs ?? 30_000);
  lab.startServer(files.serverConf, files.port);
  try {
    await lab.bootstrap();
  } catch (err) {
    await lab.stop();
    throw err;
  }
  return lab;
}

class RunningSpireLab implements SpireLab {
  readonly dir: string;
  readonly trustDomain: string;
  readonly agentSocket: string;
  readonly serverSocket: string;
  readonly nodeId: string;
  readonly bundlePath: string;
  readonly binaries: SpireBinaries;
  private server: Daemon | null = null;
  private agent: Daemon | null = null;
  private joinToken = '';
  private stopped: Promise<void> | null = null;

  constructor(
    layout: LabLayout,
    private readonly agentConf: string,
    private readonly log: Logger,
    private readonly readyTimeoutMs: number,
  ) {
    this.dir = layout.dir;
    this.trustDomain = layout.trustDomain;
    this.agentSocket = layout.agentSocket;
    this.serverSocket = layout.serverSocket;
    this.nodeId = layout.nodeId;
    this.bundlePath = layout.bundlePath;
    this.binaries = layout.binaries;
  }

  startServer(serverConf: string, port: number): void {
    this.server = startDaemon(
      'spire-server',
      this.binaries.server,
      ['run', '-config', serverConf],
      join(this.dir, 'server.log'),
    );
    this.log.info({ dir: this.dir, serverPid: this.server.pid, port }, 'spire-lab: spire-server started');
  }

  /** Server healthy → bootstrap bundle written → join token for the node alias → agent started and healthy. */
  async bootstrap(): Promise<void> {
    const server = this.server;
    if (server === null) throw new GatewayError('GW_ERR_SPIRE_LAB', 'spire-lab: bootstrap before the server started');
    await pollUntil(async () => (await runCommand(this.binaries.server, this.srv(['healthcheck']))).code === 0, {
      timeoutMs: this.readyTimeoutMs,
      what: 'waiting for spire-server healthcheck',
      abortIf: () => daemonDiedReason(server),
    });
    await writeFile(this.bundlePath, await this.serverCli(['bundle', 'show'], 'bundle show'));
    const tokenOut = await this.serverCli(
      ['token', 'generate', '-spiffeID', this.nodeId, '-ttl', '600'],
      'token generate',
    );
    const m = /Token:\s*(\S+)/.exec(tokenOut);
    if (!m?.[1])
      throw new GatewayError('GW_ERR_SPIRE_LAB', `spire-lab: unexpected token generate output: ${tokenOut.trim()}`);
    this.joinToken = m[1];
    this.agent = await this.startAgent();
  }

  async createEntry(e: CreateEntryOptions): Promise<void> {
    if (e.selectors.length === 0)
      throw new GatewayError('GW_ERR_SPIRE_LAB', 'spire-lab: createEntry needs at least one selector');
    const args = ['entry', 'create', '-parentID', this.nodeId, '-spiffeID', e.spiffeId];
    for (const s of e.selectors) args.push('-selector', s);
    if (e.x509SvidTtlSeconds !== undefined) args.push('-x509SVIDTTL', String(e.x509SvidTtlSeconds));
    for (const d of e.dnsNames ?? []) args.push('-dns', d);
    const r = await runCommand(this.binaries.server, this.srv(args));
    // A lab started again on its own directory keeps the server's datastore (and so its CA, which the trail's
    // checkpoints and the clients' bundles chain to): the entry is already there. spire-server refuses a second
    // entry with the same SPIFFE ID, parent and selectors with gRPC code AlreadyExists.
    if (r.code !== 0 && !/code: AlreadyExists/.test(r.stdout + r.stderr))
      throw new GatewayError(
        'GW_ERR_SPIRE_LAB',
        `spire-lab: entry create ${e.spiffeId} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`,
      );
    this.log.info(
      { spiffeId: e.spiffeId, selectors: e.selectors },
      r.code === 0 ? 'spire-lab: entry created' : 'spire-lab: entry already registered',
    );
  }

  async mintX509(spiffeId: string, ttlSeconds: number, outDir: string): Promise<MintedSvid> {
    await mkdir(outDir, { recursive: true });
    await this.serverCli(
      ['x509', 'mint', '-spiffeID', spiffeId, '-ttl', `${ttlSeconds}s`, '-write', outDir],
      `x509 mint ${spiffeId}`,
    );
    const out = {
      certPath: join(outDir, 'svid.pem'),
      keyPath: join(outDir, 'key.pem'),
      bundlePath: join(outDir, 'bundle.pem'),
    };
    for (const p of Object.values(out)) await access(p);
    return out;
  }

  async restartAgent(): Promise<void> {
    if (this.stopped) throw new GatewayError('GW_ERR_SPIRE_LAB', 'spire-lab: restartAgent after stop');
    await this.agent?.stop(STOP_GRACE_MS);
    this.agent = await this.startAgent();
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      await this.agent?.stop(STOP_GRACE_MS);
      await this.server?.stop(STOP_GRACE_MS);
      this.log.info({ dir: this.dir }, 'spire-lab: stopped');
    })();
    return this.stopped;
  }

  private async startAgent(): Promise<Daemon> {
    const { agent: bin } = this.binaries;
    const d = startDaemon(
      'spire-agent',
      bin,
      ['run', '-config', this.agentConf, '-joinToken', this.joinToken],
      join(this.dir, 'agent.log'),
    );
    this.log.info({ agentPid: d.pid }, 'spire-lab: spire-agent started');
    try {
      await pollUntil(
        async () => (await runCommand(bin, ['healthcheck', '-socketPath', this.agentSocket])).code === 0,
        {
          timeoutMs: this.readyTimeoutMs,
          what: 'waiting for spire-agent healthcheck',
          abortIf: () => daemonDiedReason(d),
        },
      );
    } catch (err) {
      await d.stop(STOP_GRACE_MS);
      throw err;
    }
    return d;
  }

  /** A spire-server CLI command against this lab's server socket; its stdout, or a GatewayError naming `what`. */
  private serverCli(args: string[], what: string): Promise<string> {
    return runChecked(this.binaries.server, this.srv(args), what);
  }

  private srv(args: string[]): string[] {
    return [...args, '-socketPath', this.serverSocket];
  }
}
