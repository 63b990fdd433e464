/**
 * The fleet lab (issue 15, docs/fleet.md): a real NATS fleet on 127.0.0.1 in a temp dir, for test/fleet/*.
 *
 *   const lab = await startFleetLab({ sites: ['site-a', 'site-b'] });   // default sites site-a, site-b
 *   t.teardown(() => lab.stop());                                      // always; bounded, kills everything
 *
 * What runs: a DevCa (trust domain `plant.example` unless `trustDomain`) mints every certificate; 3 hub nodes
 * (one cluster, JetStream domain `hub`, mTLS on client/route/leafnode ports, users = SPIFFE IDs by
 * `verify_and_map`); per site one leaf (JetStream domain = site, remote to every hub leafnode port with the
 * leaf's SVID `fleetIds.leaf`). Configs come from gateway/fleet/fleet-config-render.ts (the same permissions
 * as fleet-config/; each leaf's JetStream store is 1 GB, whatever its gateway list). Provisioned before
 * `startFleetLab` resolves: hub buckets `site-<site>` (R3) and the hub AUDIT stream sourcing each site's first
 * gateway's edge stream (gateway/fleet/hub-provision.ts, as `control`); at each leaf the mirror bucket and that
 * gateway's stream `AUDIT-<gateway>` (gateway/fleet/edge-provision.ts, as that gateway), and its source
 * consumer (as `control serve` does). Other gateways make their own streams; `control serve` sources them.
 *
 * API (FleetLab):
 *   lab.dir, lab.trustDomain, lab.ca (DevCa: mint rogue or odd certs yourself), lab.caFile, lab.caPem
 *   lab.hubUrls                       tls://127.0.0.1:<port> of the 3 hub client ports
 *   lab.hubLeafUrls                   127.0.0.1:<port> of the hub leafnode listeners (extra leaves, rogue tests)
 *   lab.hub.stop(n) / .start(n) / .pid(n) / .log(n)   n = 1..3; start waits until the node serves clients
 *   lab.site(name) → FleetSite:
 *     .site, .leafUrl (tls://127.0.0.1:<port>), .monitorUrl (http, /leafz /jsz /varz), .pid (undefined if down)
 *     .cutLink()      removes the leaf's remote and reloads (SIGHUP); resolves once the link is down
 *     .restoreLink()  puts it back, reloads; resolves once the leaf is connected to the hub again
 *     .kill9Leaf()    SIGKILL;  .restartLeaf() starts it again (same store) and waits for JetStream
 *     .linkUp()       whether the leaf currently has a hub connection (from /leafz)
 *     .rssBytes()     the leaf process's VmRSS;  .log() the leaf's log so far
 *   lab.control                       Credentials of `verigate control` (fleetIds.control)
 *   lab.gateway(site, name)           Credentials of fleetIds.gateway(td, site, name), minted on demand; a name
 *                                     not yet configured at the site's leaf is added there (config reload)
 *   lab.writeCredentials(label, spiffeId, { ca? })   mint with any DevCa (rogue CA tests), files under lab.dir
 *   lab.connectAs(creds, servers?, opts?)   @nats-io/transport-node connection with mTLS; servers default: the
 *                                     hub for control, the site's leaf for a gateway. Closed by lab.stop().
 *   lab.connectControl(), lab.connectGateway(site, name)   shorthands
 *   lab.stop()                        closes lab connections, stops every process (≤ ~7 s), removes the dir
 *                                     (KEEP_FLEET_LAB=1 keeps it; FLEET_LAB_DEBUG=1 runs every nats-server
 *                                     with debug logs, e.g. "Retrying mirror consumer" in the leaf's)
 * Credentials: { spiffeId, certFile, keyFile, caFile, certPem, keyPem, caPem } (files 0600).
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { DevCa } from '../../gateway/identity/dev-ca.js';
import { derToPem } from '../../gateway/identity/x509-svid.js';
import { controlInboxPrefix, fleetIds, gatewayInboxPrefix } from '../../gateway/fleet/fleet-topology.js';
import { renderHubNode, renderLeaf, type TlsFiles } from '../../gateway/fleet/fleet-config-render.js';
import { ensureHubResources } from '../../gateway/fleet/hub-provision.js';
import { ensureEdgeAuditSource, ensureEdgeResources } from '../../gateway/fleet/edge-provision.js';
import { eventually } from '../helpers/eventually.js';
import { freePort } from '../helpers/free-port.js';
import { NatsServerProcess, requireNatsServer, rssBytes } from './nats-process.js';

export const LAB_TRUST_DOMAIN = 'plant.example';
const HOST = '127.0.0.1';
const HUB_NODES = [1, 2, 3] as const;

export interface FleetLabOptions {
  readonly sites?: readonly string[];
  readonly trustDomain?: string;
  /** Gateways configured at every site's leaf from the start (default ['gw-1', 'gw-2']); more on demand. */
  readonly gateways?: readonly string[];
  /** The provisioned gateway's edge audit stream cap in bytes (default 64 MiB). */
  readonly auditMaxBytes?: number;
  /** Per-site caps instead (a gateway may only create its stream, so its cap is set here, at provisioning). */
  readonly auditMaxBytesBySite?: Readonly<Record<string, number>>;
  /** Skip provisioning (tests of the provisioning code itself). */
  readonly provision?: boolean;
}

export interface Credentials {
  readonly spiffeId: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly caPem: string;
}

export interface FleetSite {
  readonly site: string;
  readonly leafUrl: string;
  readonly monitorUrl: string;
  readonly pid: number | undefined;
  cutLink(): Promise<void>;
  restoreLink(): Promise<void>;
  kill9Leaf(): Promise<void>;
  restartLeaf(): Promise<void>;
  linkUp(): Promise<boolean>;
  rssBytes(): Promise<number | null>;
  log(): Promise<string>;
}

export interface FleetLab {
  readonly dir: string;
  readonly trustDomain: string;
  readonly ca: DevCa;
  readonly caFile: string;
  readonly caPem: string;
  readonly hubUrls: readonly string[];
  /** `127.0.0.1:<port>` of the 3 hub leafnode listeners (for extra leaves a test starts itself). */
  readonly hubLeafUrls: readonly string[];
  readonly sites: readonly string[];
  readonly hub: {
    stop(n: number): Promise<void>;
    start(n: number): Promise<void>;
    pid(n: number): number | undefined;
    log(n: number): Promise<string>;
  };
  readonly control: Credentials;
  site(name: string): FleetSite;
  gateway(site: string, name: string): Promise<Credentials>;
  /** `server`: also the IPv4 SAN 127.0.0.1 and DNS localhost, for a server certificate. */
  writeCredentials(label: string, spiffeId: string, opts?: { ca?: DevCa; server?: boolean }): Promise<Credentials>;
  connectAs(
    creds: Credentials,
    servers?: string | readonly string[],
    opts?: ConnectionOptions,
  ): Promise<NatsConnection>;
  connectControl(): Promise<NatsConnection>;
  connectGateway(site: string, name: string): Promise<NatsConnection>;
  stop(): Promise<void>;
}

interface LeafState {
  readonly site: string;
  readonly proc: NatsServerProcess;
  readonly clientPort: number;
  readonly monitorPort: number;
  readonly gateways: string[];
  linkEnabled: boolean;
}

export async function startFleetLab(opts: FleetLabOptions = {}): Promise<FleetLab> {
  requireNatsServer();
  const dir = await mkdtemp(join(tmpdir(), 'vg-fleet-'));
  const lab = new Lab(dir, opts);
  try {
    await lab.start();
  } catch (err) {
    await lab.stop();
    throw err;
  }
  return lab.api();
}

class Lab {
  readonly td: string;
  readonly sites: readonly string[];
  ca!: DevCa;
  caFile = '';
  control!: Credentials;
  private readonly nodeTls = new Map<number, TlsFiles>();
  private readonly hubProcs = new Map<number, NatsServerProcess>();
  private readonly hubPorts = new Map<number, { client: number; cluster: number; leaf: number }>();
  private readonly leaves = new Map<string, LeafState>();
  private readonly leafTls = new Map<string, TlsFiles>();
  private readonly creds = new Map<string, Credentials>();
  private readonly conns = new Set<NatsConnection>();

  constructor(
    readonly dir: string,
    private readonly opts: FleetLabOptions,
  ) {
    this.td = opts.trustDomain ?? LAB_TRUST_DOMAIN;
    this.sites = opts.sites ?? ['site-a', 'site-b'];
  }

  get hubUrls(): string[] {
    return HUB_NODES.map((n) => `tls://${HOST}:${this.hubPorts.get(n)?.client ?? 0}`);
  }

  async start(): Promise<void> {
    this.ca = await DevCa.create({ trustDomain: this.td });
    this.caFile = join(this.dir, 'ca.pem');
    await writeFile(this.caFile, this.ca.bundlePem());
    this.control = await this.writeCredentials('control', fleetIds.control(this.td));
    for (const n of HUB_NODES) {
      this.hubPorts.set(n, { client: await freePort(), cluster: await freePort(), leaf: await freePort() });
      const c = await this.writeCredentials(`hub-${n}`, fleetIds.hubNode(this.td, n), { server: true });
      this.nodeTls.set(n, tlsOf(c));
    }
    for (const n of HUB_NODES) await this.writeHubConfig(n);
    for (const n of HUB_NODES) this.hubProcs.get(n)?.start();
    for (const site of this.sites) {
      const c = await this.writeCredentials(`leaf-${site}`, fleetIds.leaf(this.td, site), { server: true });
      this.leafTls.set(site, tlsOf(c));
      const leaf: LeafState = {
        site,
        proc: new NatsServerProcess(
          `leaf-${site}`,
          join(this.dir, `leaf-${site}.conf`),
          join(this.dir, `leaf-${site}.log`),
        ),
        clientPort: await freePort(),
        monitorPort: await freePort(),
        gateways: [...(this.opts.gateways ?? ['gw-1', 'gw-2'])],
        linkEnabled: true,
      };
      this.leaves.set(site, leaf);
      await this.writeLeafConfig(leaf);
      leaf.proc.start();
    }
    await this.waitHubJetStream();
    for (const site of this.sites) await this.waitLeafJetStream(site);
    if (this.opts.provision === false) return;
    const nc = await this.connectAs(this.control, this.hubUrls);
    const first = (site: string): string => this.leaf(site).gateways[0] ?? 'gw-1';
    await ensureHubResources(nc, {
      sites: this.sites,
      gateways: Object.fromEntries(this.sites.map((site) => [site, [first(site)]])),
    });
    for (const site of this.sites) {
      const gw = await this.connectAs(await this.gateway(site, first(site)));
      const auditMaxBytes = this.opts.auditMaxBytesBySite?.[site] ?? this.opts.auditMaxBytes ?? 64 * 1024 * 1024;
      await ensureEdgeResources(gw, { site, gateway: first(site), auditMaxBytes });
      await gw.close();
    }
    await nc.close();
    for (const site of this.sites)
      await eventually(`leaf ${site} linked to the hub`, () => this.linkUp(site), {
        timeoutMs: 15_000,
        intervalMs: 100,
      });
    // The consumer the hub sources a gateway's stream through is control's to ensure (gateways may not), across
    // the leaf link as `control serve` does it.
    for (const site of this.sites)
      await eventually(`${site} audit source consumer`, async () => {
        const ctl = await this.connectAs(this.control, this.hubUrls, { inboxPrefix: controlInboxPrefix(site) });
        try {
          const edge = await jetstreamManager(ctl, { domain: site, checkAPI: false });
          await ensureEdgeAuditSource(edge, site, first(site));
          return true;
        } finally {
          await ctl.close();
        }
      });
  }

  private leaf(site: string): LeafState {
    const l = this.leaves.get(site);
    if (!l) throw new Error(`fleet lab: no site ${site} (sites: ${this.sites.join(', ')})`);
    return l;
  }

  private async writeHubConfig(n: number): Promise<void> {
    const ports = this.hubPorts.get(n)!;
    const storeDir = join(this.dir, `hub-${n}`);
    await mkdir(storeDir, { recursive: true });
    const conf = renderHubNode({
      trustDomain: this.td,
      node: n,
      host: HOST,
      clientPort: ports.client,
      clusterPort: ports.cluster,
      leafPort: ports.leaf,
      routes: HUB_NODES.filter((m) => m !== n).map((m) => `${HOST}:${this.hubPorts.get(m)!.cluster}`),
      storeDir,
      tls: this.nodeTls.get(n)!,
      sites: this.sites,
    });
    const file = join(this.dir, `hub-${n}.conf`);
    await writeFile(file, conf + debugLog());
    if (!this.hubProcs.has(n))
      this.hubProcs.set(n, new NatsServerProcess(`hub-${n}`, file, join(this.dir, `hub-${n}.log`)));
  }

  private async writeLeafConfig(leaf: LeafState): Promise<void> {
    const storeDir = join(this.dir, `leaf-${leaf.site}`);
    await mkdir(storeDir, { recursive: true });
    const conf = renderLeaf({
      trustDomain: this.td,
      site: leaf.site,
      host: HOST,
      clientPort: leaf.clientPort,
      monitorPort: leaf.monitorPort,
      hubLeafUrls: HUB_NODES.map((n) => `${HOST}:${this.hubPorts.get(n)!.leaf}`),
      storeDir,
      tls: this.leafTls.get(leaf.site)!,
      gateways: leaf.gateways,
      linkEnabled: leaf.linkEnabled,
      // fixed: the lab adds gateways by config reload, and its streams are small (fleet-gateway.ts)
      maxFileStore: '1GB',
    });
    await writeFile(leaf.proc.configFile, conf + debugLog());
  }

  private async waitHubJetStream(): Promise<void> {
    await eventually(
      'hub JetStream (meta leader elected)',
      async () => {
        const nc = await this.connectAs(this.control, this.hubUrls, { reconnect: false, timeout: 2000 });
        try {
          const jsm = await jetstreamManager(nc);
          await jsm.getAccountInfo();
          return true;
        } finally {
          await nc.close();
        }
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await this.logs('hub-1')}`);
    });
  }

  private async waitLeafJetStream(site: string): Promise<void> {
    const leaf = this.leaf(site);
    const creds = await this.gateway(site, leaf.gateways[0] ?? 'gw-1');
    await eventually(
      `leaf ${site} JetStream`,
      async () => {
        const nc = await this.connectAs(creds, this.leafUrl(site), { reconnect: false, timeout: 2000 });
        try {
          await (await jetstreamManager(nc)).getAccountInfo();
          return true;
        } finally {
          await nc.close();
        }
      },
      { timeoutMs: 20_000, intervalMs: 100 },
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await leaf.proc.log()}`);
    });
  }

  private async logs(name: string): Promise<string> {
    const n = Number(name.replace('hub-', ''));
    return (await this.hubProcs.get(n)?.log()) ?? '';
  }

  leafUrl(site: string): string {
    return `tls://${HOST}:${this.leaf(site).clientPort}`;
  }

  async linkUp(site: string): Promise<boolean> {
    const leaf = this.leaf(site);
    try {
      const r = await fetch(`http://${HOST}:${leaf.monitorPort}/leafz`, { signal: AbortSignal.timeout(2000) });
      const body = (await r.json()) as { leafnodes?: number };
      return (body.leafnodes ?? 0) > 0;
    } catch {
      return false;
    }
  }

  async writeCredentials(
    label: string,
    spiffeId: string,
    opts: { ca?: DevCa; server?: boolean } = {},
  ): Promise<Credentials> {
    const ca = opts.ca ?? this.ca;
    const minted = await ca.mintX509Svid({
      spiffeId,
      ...(opts.server ? { ipAddresses: [HOST], dnsNames: ['localhost'] } : {}),
    });
    const certPem = minted.chainDer.map((d) => derToPem(d, 'CERTIFICATE')).join('');
    const keyPem = derToPem(minted.keyDer, 'PRIVATE KEY');
    const base = join(this.dir, 'certs', label);
    await mkdir(join(this.dir, 'certs'), { recursive: true, mode: 0o700 });
    await writeFile(`${base}.pem`, certPem, { mode: 0o600 });
    await writeFile(`${base}.key`, keyPem, { mode: 0o600 });
    return {
      spiffeId,
      certFile: `${base}.pem`,
      keyFile: `${base}.key`,
      caFile: this.caFile,
      certPem,
      keyPem,
      caPem: this.ca.bundlePem(),
    };
  }

  async gateway(site: string, name: string): Promise<Credentials> {
    const key = `${site}/${name}`;
    const have = this.creds.get(key);
    if (have) return have;
    const leaf = this.leaf(site);
    const creds = await this.writeCredentials(`gw-${site}-${name}`, fleetIds.gateway(this.td, site, name));
    this.creds.set(key, creds);
    if (!leaf.gateways.includes(name)) {
      leaf.gateways.push(name);
      await this.writeLeafConfig(leaf);
      if (leaf.proc.running) {
        leaf.proc.reload();
        await eventually(`leaf ${site} accepts gateway ${name} after reload`, async () => {
          const nc = await this.connectAs(creds, this.leafUrl(site), { reconnect: false, timeout: 1000 });
          await nc.close();
          return true;
        });
      }
    }
    return creds;
  }

  async connectAs(
    creds: Credentials,
    servers?: string | readonly string[],
    opts: ConnectionOptions = {},
  ): Promise<NatsConnection> {
    const target = servers ?? this.defaultServers(creds);
    // a gateway's leaf user may receive replies only under its own inbox prefix (fleet-config-render.ts)
    const gw = /\/fleet\/site\/([^/]+)\/gateway\/([^/]+)$/.exec(creds.spiffeId);
    const nc = await connect({
      servers: typeof target === 'string' ? target : [...target],
      tls: { certFile: creds.certFile, keyFile: creds.keyFile, caFile: creds.caFile },
      name: creds.spiffeId,
      ...(gw ? { inboxPrefix: gatewayInboxPrefix(gw[1]!, gw[2]!) } : {}),
      ...opts,
    });
    this.conns.add(nc);
    void nc.closed().then(() => this.conns.delete(nc));
    return nc;
  }

  private defaultServers(creds: Credentials): string | string[] {
    const m = /\/fleet\/site\/([^/]+)\/gateway\//.exec(creds.spiffeId);
    return m?.[1] && this.leaves.has(m[1]) ? this.leafUrl(m[1]) : this.hubUrls;
  }

  async stopHub(n: number): Promise<void> {
    await this.hubNode(n).stop();
  }

  async startHub(n: number): Promise<void> {
    const p = this.hubNode(n);
    p.start();
    const url = `tls://${HOST}:${this.hubPorts.get(n)!.client}`;
    await eventually(
      `hub-${n} serving clients`,
      async () => {
        const nc = await this.connectAs(this.control, url, { reconnect: false, timeout: 1000 });
        await nc.close();
        return true;
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );
  }

  private hubNode(n: number): NatsServerProcess {
    const p = this.hubProcs.get(n);
    if (!p) throw new Error(`fleet lab: no hub node ${n} (1..3)`);
    return p;
  }

  async setLink(site: string, enabled: boolean): Promise<void> {
    const leaf = this.leaf(site);
    leaf.linkEnabled = enabled;
    await this.writeLeafConfig(leaf);
    leaf.proc.reload();
    await eventually(
      `leaf ${site} link ${enabled ? 'up' : 'down'}`,
      async () => (await this.linkUp(site)) === enabled,
      {
        timeoutMs: 15_000,
        intervalMs: 100,
      },
    );
  }

  async restartLeaf(site: string): Promise<void> {
    const leaf = this.leaf(site);
    await leaf.proc.stop();
    leaf.proc.start();
    await this.waitLeafJetStream(site);
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.conns].map((nc) => Promise.race([nc.close(), sleep(1000)])));
    const procs = [...this.leaves.values()].map((l) => l.proc).concat([...this.hubProcs.values()]);
    await Promise.allSettled(procs.map((p) => p.stop(5000)));
    if (!process.env['KEEP_FLEET_LAB']) await rm(this.dir, { recursive: true, force: true });
  }

  private siteHandle(name: string): FleetSite {
    const leaf = this.leaf(name);
    return {
      site: name,
      leafUrl: this.leafUrl(name),
      monitorUrl: `http://${HOST}:${leaf.monitorPort}`,
      get pid() {
        return leaf.proc.pid;
      },
      cutLink: () => this.setLink(name, false),
      restoreLink: () => this.setLink(name, true),
      kill9Leaf: () => leaf.proc.kill9(),
      restartLeaf: () => this.restartLeaf(name),
      linkUp: () => this.linkUp(name),
      rssBytes: async () => (leaf.proc.pid === undefined ? null : rssBytes(leaf.proc.pid)),
      log: () => leaf.proc.log(),
    };
  }

  api(): FleetLab {
    return {
      dir: this.dir,
      trustDomain: this.td,
      ca: this.ca,
      caFile: this.caFile,
      caPem: this.ca.bundlePem(),
      hubUrls: this.hubUrls,
      hubLeafUrls: HUB_NODES.map((n) => `${HOST}:${this.hubPorts.get(n)!.leaf}`),
      sites: this.sites,
      hub: {
        stop: (n) => this.stopHub(n),
        start: (n) => this.startHub(n),
        pid: (n) => this.hubNode(n).pid,
        log: (n) => this.hubNode(n).log(),
      },
      control: this.control,
      site: (name: string): FleetSite => this.siteHandle(name),
      gateway: (site, name) => this.gateway(site, name),
      writeCredentials: (label, id, o) => this.writeCredentials(label, id, o ?? {}),
      connectAs: (c, s, o) => this.connectAs(c, s, o),
      connectControl: () => this.connectAs(this.control, this.hubUrls),
      connectGateway: async (site, name) => this.connectAs(await this.gateway(site, name), this.leafUrl(site)),
      stop: () => this.stop(),
    };
  }
}

/** FLEET_LAB_DEBUG=1: nats-server debug logs (mirror/source consumer retries) for diagnosing a lab run. */
function debugLog(): string {
  return process.env['FLEET_LAB_DEBUG'] ? 'debug: true\nlogtime_utc: true\n' : '';
}

function tlsOf(c: Credentials): TlsFiles {
  return { certFile: c.certFile, keyFile: c.keyFile, caFile: c.caFile };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
