/**
 * A real gateway that is a fleet member of the lab (test/fleet/fleet-lab.ts), for the enforcement tests
 * (locks, partition, strict mode): the harness gateway (test/helpers/gateway-harness.ts) with its dev issuer
 * on the LAB's CA and SPIFFE ID `fleetIds.gateway(td, site, name)` (the user the site's leaf maps), and a
 * `fleet:` section pointing at the site's leaf. `restart()` stops the gateway and starts a new one from the
 * same gateway.yaml and state dir (the simulated PLC keeps running), as a box restarted in place.
 * Also: the hub side the tests drive (`HubSide`, through `verigate control`).
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import pino from 'pino';
import { loadGatewayConfig } from '../../gateway/config/gateway-config.js';
import { startGateway, type RunningGateway } from '../../gateway/main.js';
import { CA_CERT_FILE, CA_KEY_FILE } from '../../gateway/identity/dev-ca.js';
import { SEGMENT_RE } from '../../gateway/audit/audit-segments.js';
import { fleetIds } from '../../gateway/fleet/fleet-topology.js';
import { controlCommand } from '../../gateway/cli/control-command.js';
import { controlServe } from '../../gateway/cli/control-serve.js';
import { memoryIo } from '../../gateway/cli/cli-io.js';
import { eventually } from '../helpers/eventually.js';
import type { Lock } from '../../gateway/trust/lock-service.js';
import type { Grant } from '../../gateway/trust/grant-service.js';
import { startHarness, TestMbapsClient, type ClientCreds, type Harness } from '../helpers/gateway-harness.js';
import type { FleetLab } from './fleet-lab.js';

/**
 * Each gateway's edge stream reserves its streamMaxBytes at the lab leaf's 1 GB store when made: the lab's
 * gateways take 64 MiB (as the lab provisions) unless `fleetYaml` sets `audit:` itself.
 */
const LAB_STREAM_MAX_BYTES = 64 * 1024 * 1024;

export interface FleetGatewayOptions {
  readonly policy: string;
  /** Extra keys of the `fleet:` flow mapping, e.g. `maxStaleness: 10s`. */
  readonly fleetYaml?: string;
  /** `fleet.leaf.url`; default the site's leaf in the lab. */
  readonly leafUrl?: string;
}

export interface FleetGateway {
  readonly site: string;
  readonly name: string;
  readonly harness: Harness;
  /** The running gateway (a new one after `restart`). */
  gateway(): RunningGateway;
  port(): number;
  client(id: string): Promise<TestMbapsClient>;
  mint(id: string): Promise<ClientCreds>;
  restart(): Promise<void>;
  /** Audit events of one type from the gateway's files (all runs). */
  auditEvents(type: string): Record<string, unknown>[];
  stop(): Promise<void>;
}

/** Writes the lab CA where a dev issuer loads it (`ca-cert.pem`, `ca-key.pem`), once per lab. */
function labCaDir(lab: FleetLab): string {
  const dir = join(lab.dir, 'gateway-dev-ca');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, CA_CERT_FILE), lab.ca.bundlePem(), { mode: 0o600 });
  writeFileSync(join(dir, CA_KEY_FILE), lab.ca.signingKey().export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return dir;
}

export async function startFleetGateway(
  lab: FleetLab,
  site: string,
  name: string,
  opts: FleetGatewayOptions,
): Promise<FleetGateway> {
  await lab.gateway(site, name); // the leaf knows this gateway's SPIFFE ID
  const id = fleetIds.gateway(lab.trustDomain, site, name);
  const harness = await startHarness({
    policy: opts.policy,
    ca: lab.ca,
    identityYaml: `identity:
  source: dev
  dev: { trustDomain: ${lab.trustDomain}, caDir: ${labCaDir(lab)}, spiffeId: "${id}" }`,
    extraYaml: `fleet: { site: ${site}, name: ${name}, leaf: { url: "${opts.leafUrl ?? lab.site(site).leafUrl}" }${
      opts.fleetYaml ? `, ${opts.fleetYaml}` : ''
    }${/\baudit:/.test(opts.fleetYaml ?? '') ? '' : `, audit: { streamMaxBytes: ${LAB_STREAM_MAX_BYTES} }`} }`,
  });
  let current = harness.gateway;
  const clients: TestMbapsClient[] = [];
  return {
    site,
    name,
    harness,
    gateway: () => current,
    port: () => current.endpoints.mbaps.port,
    mint: (who) => harness.mint(who),
    client: async (who) => {
      const c = await TestMbapsClient.connect(current.endpoints.mbaps.port, await harness.mint(who));
      clients.push(c);
      return c;
    },
    restart: async () => {
      await current.stop();
      current = await startGateway(loadGatewayConfig(join(harness.dir, 'gateway.yaml')), {
        logger: pino({ level: 'silent' }),
      });
    },
    auditEvents: (type) => readAudit(current.config.audit.dir, type),
    stop: async () => {
      for (const c of clients) c.close();
      await current.stop();
      await harness.stop();
    },
  };
}

function readAudit(dir: string, type: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const needle = `"type":"${type}"`;
  for (const f of readdirSync(dir).sort()) {
    if (!SEGMENT_RE.test(f)) continue;
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n'))
      if (line.includes(needle)) out.push(JSON.parse(line) as Record<string, unknown>);
  }
  return out;
}

/**
 * The hub side, driven through `verigate control` itself (gateway/cli/control-*.ts) with a fleet-control.yaml for
 * the lab: `control serve --no-audit` writes the heartbeat every second to every site bucket, `control lock
 * create|remove` puts and deletes locks, `control policy publish` signs and publishes a site's policy and
 * `control grant issue` checks a grant against its JIT rules and puts it.
 */
export class HubSide {
  private serving: { stop: () => void; done: Promise<number> } | null = null;

  private constructor(private readonly configFile: string) {}

  /** Writes the lab's fleet-control.yaml (hub URLs, the control's SVID files, these sites, heartbeat 1 s). */
  static open(lab: FleetLab, sites: readonly string[]): HubSide {
    const configFile = join(lab.dir, 'fleet-control.yaml');
    const c = lab.control;
    writeFileSync(
      configFile,
      [
        'version: 1',
        `hub: { urls: [${lab.hubUrls.join(', ')}], caFile: "${lab.caFile}", connectTimeout: 3s }`,
        `identity: { files: { cert: "${c.certFile}", key: "${c.keyFile}", bundle: "${c.caFile}" } }`,
        `sites: [${sites.join(', ')}]`,
        'heartbeatEvery: 1s',
        'logging: { level: silent }',
      ].join('\n') + '\n',
    );
    return new HubSide(configFile);
  }

  /** Runs `verigate control serve --no-audit` (heartbeat every 1 s to every site); resolves once it runs. */
  async startHeartbeats(): Promise<void> {
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    let ready = false;
    const io = memoryIo();
    const done = controlServe(['--config', this.configFile, '--no-audit'], io, {
      stop: stopped,
      logger: pino({ level: 'silent' }),
      onReady: () => (ready = true),
    });
    this.serving = { stop, done };
    await eventually(
      'control serve running',
      async () => {
        if (!ready && (await Promise.race([done, Promise.resolve(null)])) !== null)
          throw new Error(`control serve exited: ${io.stderr.join('\n')}`);
        return ready;
      },
      { timeoutMs: 15_000, intervalMs: 50 },
    );
  }

  async stopHeartbeats(): Promise<void> {
    this.serving?.stop();
    await this.serving?.done;
    this.serving = null;
  }

  /**
   * `verigate control lock create --identity ID --reason R [--site S]` (every site without `site`); resolves with
   * the lock's id and the instant the command started.
   */
  async lockIdentity(
    identity: string,
    opts: { site?: string; reason?: string } = {},
  ): Promise<{ id: string; t0: number }> {
    const io = memoryIo();
    const t0 = Date.now();
    const args = ['lock', 'create', '--identity', identity, '--reason', opts.reason ?? 'fleet test', '--json'];
    const code = await controlCommand(
      [...args, ...(opts.site ? ['--site', opts.site] : []), '--config', this.configFile],
      io,
    );
    if (code !== 0) throw new Error(`control lock create exited ${code}: ${io.stderr.join('\n')}`);
    const out = JSON.parse(io.stdout.join('')) as { lock: Lock; failed: unknown[] };
    if (out.failed.length > 0) throw new Error(`control lock create failed at ${JSON.stringify(out.failed)}`);
    return { id: out.lock.id, t0 };
  }

  /** `verigate control lock remove ID`. */
  async removeLock(id: string): Promise<void> {
    const io = memoryIo();
    const code = await controlCommand(['lock', 'remove', id, '--config', this.configFile], io);
    if (code !== 0) throw new Error(`control lock remove exited ${code}: ${io.stderr.join('\n')}`);
  }

  /** `verigate control policy publish --site S --file F` (signed with the control's SVID). */
  async publishPolicy(site: string, text: string): Promise<void> {
    const file = join(dirname(this.configFile), `policy-${site}.yaml`);
    writeFileSync(file, text);
    await this.run(['policy', 'publish', '--site', site, '--file', file]);
  }

  /**
   * `verigate control grant issue … --approver A --site S`: checked at the hub against the site's published JIT
   * rules, then put as an active grant; resolves with the grant's id and expiry.
   */
  async issueGrant(
    site: string,
    g: { requester: string; device: string; table: string; start: number; end: number; access: string },
    opts: { duration: string; reason: string; approver: string },
  ): Promise<{ id: string; expiresAt: number }> {
    const out = (await this.run(
      ['grant', 'issue', '--requester', g.requester, '--device', g.device, '--table', g.table],
      ['--start', String(g.start), '--end', String(g.end), '--access', g.access, '--duration', opts.duration],
      ['--reason', opts.reason, '--approver', opts.approver, '--site', site, '--json'],
    )) as { grant: Grant };
    return { id: out.grant.id, expiresAt: Date.parse(out.grant.expiresAt ?? '') };
  }

  /** Runs one `verigate control` command; its --json output parsed (null without output). */
  private async run(...args: string[][]): Promise<unknown> {
    const io = memoryIo();
    const code = await controlCommand([...args.flat(), '--config', this.configFile], io);
    if (code !== 0)
      throw new Error(`control ${args.flat().slice(0, 2).join(' ')} exited ${code}: ${io.stderr.join('\n')}`);
    const text = io.stdout.join('');
    return text.startsWith('{') ? (JSON.parse(text) as unknown) : null;
  }
}
