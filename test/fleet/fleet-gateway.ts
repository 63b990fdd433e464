/**
 * A real gateway that is a fleet member of the lab (test/fleet/fleet-lab.ts), for the enforcement tests
 * (locks, partition, strict mode): the harness gateway (test/helpers/gateway-harness.ts) with its dev issuer
 * on the LAB's CA and SPIFFE ID `fleetIds.gateway(td, site, name)` (the user the site's leaf maps), and a
 * `fleet:` section pointing at the site's leaf. `restart()` stops the gateway and starts a new one from the
 * same gateway.yaml and state dir (the simulated PLC keeps running), as a box restarted in place.
 * Also: the hub side the tests drive — heartbeats (the control's HeartbeatWriter, as `control serve` runs it)
 * and lock / grant puts in the site's hub bucket in the contract's shapes.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { Kvm, type KV } from '@nats-io/kv';
import { loadGatewayConfig } from '../../gateway/config/gateway-config.js';
import { startGateway, type RunningGateway } from '../../gateway/main.js';
import { CA_CERT_FILE, CA_KEY_FILE } from '../../gateway/identity/dev-ca.js';
import { SEGMENT_RE } from '../../gateway/audit/audit-segments.js';
import { fleetIds, grantKey, lockKey, siteBucket } from '../../gateway/fleet/fleet-topology.js';
import { HeartbeatWriter } from '../../gateway/fleet/heartbeat-writer.js';
import { systemTimers } from '../../gateway/timers.js';
import type { Lock } from '../../gateway/trust/lock-service.js';
import type { Grant } from '../../gateway/trust/grant-service.js';
import { startHarness, TestMbapsClient, type ClientCreds, type Harness } from '../helpers/gateway-harness.js';
import type { FleetLab } from './fleet-lab.js';

export interface FleetGatewayOptions {
  readonly policy: string;
  /** Extra keys of the `fleet:` flow mapping, e.g. `maxStaleness: 10s`. */
  readonly fleetYaml?: string;
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
    extraYaml: `fleet: { site: ${site}, name: ${name}, leaf: { url: "${lab.site(site).leafUrl}" }${
      opts.fleetYaml ? `, ${opts.fleetYaml}` : ''
    } }`,
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

/** The hub side of one or more sites, as `verigate control` writes it: locks, grants and heartbeats. */
export class HubSide {
  private writer: HeartbeatWriter | null = null;

  private constructor(
    private readonly lab: FleetLab,
    private readonly kvs: ReadonlyMap<string, KV>,
  ) {}

  static async open(lab: FleetLab, sites: readonly string[]): Promise<HubSide> {
    const nc = await lab.connectControl();
    const kvm = new Kvm(nc);
    const kvs = new Map<string, KV>();
    for (const s of sites) kvs.set(s, await kvm.open(siteBucket(s)));
    return new HubSide(lab, kvs);
  }

  private kv(site: string): KV {
    const kv = this.kvs.get(site);
    if (!kv) throw new Error(`hub side: site ${site} not opened`);
    return kv;
  }

  /** Heartbeats every `everyMs` to every opened site bucket (the control's own writer). */
  startHeartbeats(everyMs = 1000): void {
    this.writer = new HeartbeatWriter({
      sites: [...this.kvs.keys()],
      by: fleetIds.control(this.lab.trustDomain),
      everyMs,
      timers: systemTimers,
      put: (site, json) => this.kv(site).put('heartbeat', json),
    });
    this.writer.start();
  }

  async stopHeartbeats(): Promise<void> {
    await this.writer?.stop();
    this.writer = null;
  }

  /** Puts an identity lock at the hub (as `control lock create`); resolves with the instant just before the put. */
  async lockIdentity(site: string, lockId: string, identity: string, reason = 'fleet test'): Promise<number> {
    const lock: Lock = {
      id: lockId,
      target: { kind: 'identity', value: identity },
      by: fleetIds.control(this.lab.trustDomain),
      reason,
      createdAt: new Date().toISOString(),
    };
    const t0 = Date.now();
    await this.kv(site).put(lockKey(lockId), JSON.stringify(lock));
    return t0;
  }

  async removeLock(site: string, lockId: string): Promise<void> {
    await this.kv(site).delete(lockKey(lockId));
  }

  /** Puts an active grant at the hub (as `control grant issue`). */
  async issueGrant(site: string, grant: Omit<Grant, 'status' | 'approvals' | 'requestedAt'>): Promise<void> {
    const full: Grant = {
      ...grant,
      status: 'active',
      approvals: ['spiffe://plant.example/ops/lead'],
      requestedAt: new Date().toISOString(),
    };
    await this.kv(site).put(grantKey(grant.id), JSON.stringify(full));
  }
}
