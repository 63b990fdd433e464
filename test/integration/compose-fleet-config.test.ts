/**
 * The fleet compose variant (docker-compose.fleet.yml), checked without a Docker engine like docker-compose.yml
 * (compose-config.test.ts): Compose resolves it; its services, networks and ports are the fleet topology of
 * docs/fleet.md, read against the nats-server configs it mounts (fleet-config/*.conf) and the gateway.yaml /
 * fleet-control.yaml it mounts (loaded with the project's loaders); every bind-mounted file exists; the SPIRE
 * entries it registers give each workload exactly its `fleetIds` identity. Each topology rule is a function of
 * the resolved config, also run on broken variants so it can fail.
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadGatewayConfig } from '../../gateway/config/gateway-config.js';
import { loadFleetControlConfig } from '../../gateway/fleet/fleet-control-config.js';
import { HUB_DOMAIN, fleetIds } from '../../gateway/fleet/fleet-topology.js';
import { loadPolicyFile } from '../../gateway/policy/index.js';
import {
  composeConfig,
  dependsOn,
  imageTag,
  mountsOf,
  networksOf,
  publishedPorts,
  type ComposeConfig,
  type Service,
} from '../helpers/compose-file.js';
import { REPO_ROOT } from '../helpers/tools.js';

const at = (p: string): string => join(REPO_ROOT, p);
const AGENT_SOCKET_DIR = '/run/spire/agent/public';
const NATS_IMAGE = 'nats:2.15.2-alpine';
const SPIRE_AGENT_IMAGE = 'ghcr.io/spiffe/spire-agent:1.13.3';
const HUBS = ['hub-1', 'hub-2', 'hub-3'];
const SITE = 'site-a';
const LEAF = `leaf-${SITE}`;
const GATEWAY = `gateway-${SITE}`;
const PLC = `plc-${SITE}`;
const NATS_SERVERS = [...HUBS, LEAF];
const SERVICES = [
  'spire-server',
  'spire-registrar',
  'spire-agent',
  ...NATS_SERVERS.map((n) => `svid-${n}`),
  ...NATS_SERVERS,
  'control-init',
  'control',
  GATEWAY,
  PLC,
].sort();

/** What the fleet topology needs from one nats-server config file (as scripts/render-fleet-config.mjs writes it). */
interface NatsConf {
  serverName: string;
  host: string;
  clientPort: number;
  domain: string;
  storeDir: string;
  tlsDir: string;
  /** Base names of cert_file, key_file, ca_file. */
  tlsFiles: string[];
  clusterPort: number | null;
  leafPort: number | null;
  routes: string[];
  remoteUrls: string[];
  users: string[];
}

function natsConf(file: string): NatsConf {
  const text = readFileSync(file, 'utf8');
  const one = (re: RegExp): string => re.exec(text)?.[1] ?? '';
  const list = (re: RegExp): string[] => JSON.parse(one(re) || '[]') as string[];
  const num = (re: RegExp): number | null => (one(re) ? Number(one(re)) : null);
  return {
    serverName: one(/^server_name: "([^"]+)"/m),
    host: one(/^host: "([^"]+)"/m),
    clientPort: Number(one(/^port: (\d+)/m)),
    domain: one(/^\s*domain: "([^"]+)"/m),
    storeDir: one(/^\s*store_dir: "([^"]+)"/m),
    tlsDir: one(/cert_file: "([^"]+)\/[^/"]+"/),
    tlsFiles: ['cert_file', 'key_file', 'ca_file'].map((k) => one(new RegExp(`${k}: "[^"]*/([^/"]+)"`))),
    clusterPort: num(/^cluster \{[^}]*?\n {2}port: (\d+)/m),
    leafPort: num(/^leafnodes \{\n {2}host: "[^"]*"\n {2}port: (\d+)/m),
    routes: list(/^\s*routes: (\[.*\])$/m),
    remoteUrls: list(/^\s*urls: (\[.*\])$/m),
    users: [...text.matchAll(/\{ user: "([^"]+)"/g)].map((m) => m[1]!),
  };
}

const confPath = (c: ComposeConfig, name: string): string =>
  mountsOf(c.services[name]!).find((m) => m.target.endsWith('.conf'))?.source ?? '';

/** `docker-compose config` names a named volume by its key; a bind mount by its absolute path. */
const isNamedVolume = (c: ComposeConfig, source: string): boolean => source in (c.volumes ?? {});

/** Every broken rule of the fleet topology, as a sentence; [] when the topology is right. */
function fleetProblems(c: ComposeConfig): string[] {
  const p: string[] = [];
  const svc = c.services;
  const names = Object.keys(svc).sort();
  if (names.join() !== SERVICES.join()) return [`services are [${names.join(', ')}], must be [${SERVICES.join(', ')}]`];
  for (const n of ['wan', 'ot', 'spire'])
    if (c.networks?.[n]?.internal !== true) p.push(`network ${n} is not internal`);
  const members = (net: string): string =>
    names
      .filter((n) => networksOf(svc[n]!).includes(net))
      .sort()
      .join();
  if (members('ot') !== [LEAF, PLC].join()) p.push(`ot members are [${members('ot')}], must be the edge box and PLC`);
  const wan = [...HUBS, 'control', 'control-init', LEAF].sort().join();
  if (members('wan') !== wan) p.push(`wan members are [${members('wan')}], must be [${wan}]`);
  for (const [name, s] of Object.entries(svc)) {
    const tag = imageTag(s.image);
    if (!tag || tag === 'latest') p.push(`${name}: image "${s.image}" is not pinned by a version tag`);
    if (name !== LEAF && publishedPorts(s).length > 0) p.push(`${name} publishes ports (only the edge box may)`);
  }
  p.push(...natsServerProblems(c), ...edgeBoxProblems(c), ...controlProblems(c));
  return p;
}

function natsServerProblems(c: ComposeConfig): string[] {
  const p: string[] = [];
  for (const name of NATS_SERVERS) {
    const s = c.services[name]!;
    const fetch = c.services[`svid-${name}`]!;
    const conf = natsConf(confPath(c, name));
    if (s.image !== NATS_IMAGE) p.push(`${name} is not ${NATS_IMAGE}`);
    if (s.command?.slice(0, 3).join(' ') !== `nats-server --config /etc/nats/${name}.conf`)
      p.push(`${name} does not run nats-server with /etc/nats/${name}.conf`);
    if (confPath(c, name) !== at(`fleet-config/${name}.conf`))
      p.push(`${name} does not mount fleet-config/${name}.conf`);
    if (conf.serverName !== name) p.push(`${name}: its config names server "${conf.serverName}"`);
    // the names `spire-agent api fetch x509 -write DIR` gives the first SVID, its key and the bundle
    if (conf.tlsFiles.join() !== 'svid.0.pem,svid.0.key,bundle.0.pem')
      p.push(`${name}: TLS files [${conf.tlsFiles.join(', ')}] are not what spire-agent api fetch writes`);
    const tls = mountsOf(s).find((m) => m.target === conf.tlsDir);
    const written = mountsOf(fetch).find((m) => m.target === fetch.command?.at(-1));
    if (!tls?.readOnly || !written || tls.source !== written.source || !isNamedVolume(c, tls.source))
      p.push(`${name} does not mount, read-only at ${conf.tlsDir}, the volume svid-${name} writes`);
    if (!mountsOf(s).some((m) => m.target === conf.storeDir && isNamedVolume(c, m.source)))
      p.push(`${name}: JetStream store ${conf.storeDir} is not on a named volume`);
    if (dependsOn(s, `svid-${name}`) !== 'service_completed_successfully')
      p.push(`${name} does not wait for its SVID files`);
    p.push(...fetchProblems(c, `svid-${name}`));
  }
  for (const name of HUBS) {
    const conf = natsConf(confPath(c, name));
    const others = HUBS.filter((h) => h !== name).map((h) => `tls://${h}:${conf.clusterPort}`);
    if (conf.domain !== HUB_DOMAIN) p.push(`${name} is not in JetStream domain ${HUB_DOMAIN}`);
    if (conf.routes.join() !== others.join()) p.push(`${name} routes [${conf.routes.join(', ')}], not the other hubs`);
    if (networksOf(c.services[name]!).join() !== 'wan') p.push(`${name} is not on wan only`);
  }
  return p;
}

function fetchProblems(c: ComposeConfig, name: string): string[] {
  const s = c.services[name]!;
  const p: string[] = [];
  if (s.image !== SPIRE_AGENT_IMAGE) p.push(`${name} is not ${SPIRE_AGENT_IMAGE}`);
  const cmd = [...(s.entrypoint ?? []), ...(s.command ?? [])].join(' ');
  if (!cmd.startsWith('/opt/spire/bin/spire-agent api fetch x509 -socketPath /run/spire/agent/public/api.sock -write '))
    p.push(`${name} does not run spire-agent api fetch x509 -write`);
  if (s.network_mode !== 'none') p.push(`${name} has a network`);
  if (s.pid !== 'service:spire-agent') p.push(`${name} does not share the agent's PID namespace (unix attestor)`);
  if (!mountsOf(s).some((m) => m.target === AGENT_SOCKET_DIR && m.readOnly && m.source === 'spire-agent-socket'))
    p.push(`${name} does not read the agent socket volume read-only`);
  if (s.restart === 'always' || s.restart === 'unless-stopped') p.push(`${name} is not a one-shot`);
  if (dependsOn(s, 'spire-agent') !== 'service_healthy') p.push(`${name} does not wait for a healthy agent`);
  return p;
}

function edgeBoxProblems(c: ComposeConfig): string[] {
  const p: string[] = [];
  const leaf = c.services[LEAF]!;
  const gw = c.services[GATEWAY]!;
  const conf = natsConf(confPath(c, LEAF));
  const hubLeaf = HUBS.map((h) => `tls://${h}:${natsConf(confPath(c, h)).leafPort}`);
  if (conf.remoteUrls.join() !== hubLeaf.join()) p.push(`${LEAF} remotes [${conf.remoteUrls.join(', ')}]`);
  if (conf.domain !== SITE) p.push(`${LEAF} is not in JetStream domain ${SITE}`);
  if (conf.host !== '127.0.0.1') p.push(`${LEAF} client port listens on ${conf.host}, not loopback`);
  for (const n of ['wan', 'ot', 'it']) if (!networksOf(leaf).includes(n)) p.push(`${LEAF} is not on ${n}`);
  if (gw.network_mode !== `service:${LEAF}`) p.push(`${GATEWAY} does not share the edge box's network namespace`);
  if (gw.pid !== 'service:spire-agent') p.push(`${GATEWAY} does not share the agent's PID namespace`);
  if (!mountsOf(gw).some((m) => m.target === AGENT_SOCKET_DIR && m.readOnly && m.source === 'spire-agent-socket'))
    p.push(`${GATEWAY} does not read the agent socket volume read-only`);
  if (dependsOn(gw, LEAF) !== 'service_healthy') p.push(`${GATEWAY} does not wait for a healthy leaf`);
  const plc = c.services[PLC]!;
  if (plc.image !== gw.image) p.push(`${PLC} does not run the gateway image`);
  return p;
}

function controlProblems(c: ComposeConfig): string[] {
  const p: string[] = [];
  for (const name of ['control-init', 'control']) {
    const s = c.services[name]!;
    if (s.command?.slice(2, 4).join(' ') !== `control ${name === 'control' ? 'serve' : 'init'}`)
      p.push(`${name} does not run verigate control ${name === 'control' ? 'serve' : 'init'}`);
    if (s.pid !== 'service:spire-agent') p.push(`${name} does not share the agent's PID namespace`);
    if (!mountsOf(s).some((m) => m.target === AGENT_SOCKET_DIR && m.readOnly && m.source === 'spire-agent-socket'))
      p.push(`${name} does not read the agent socket volume read-only`);
  }
  for (const h of HUBS)
    if (dependsOn(c.services['control-init']!, h) !== 'service_healthy') p.push(`control-init does not wait for ${h}`);
  if (dependsOn(c.services['control']!, 'control-init') !== 'service_completed_successfully')
    p.push('control serve does not wait for control init');
  return p;
}

const compose = composeConfig('docker-compose.fleet.yml');
const gatewayConfigDir = (c: ComposeConfig): Service => c.services[GATEWAY]!;

t.test('docker-compose resolves docker-compose.fleet.yml', async (t) => {
  if (typeof compose === 'string') return void t.fail(compose);
  t.same(Object.keys(compose.services).sort(), SERVICES);
});

t.test('fleet topology: 3 hub nodes, control, one edge box (leaf + gateway) and its PLC', async (t) => {
  if (typeof compose === 'string') return void t.fail(compose);
  t.same(fleetProblems(compose), [], 'no topology problem');
  t.match(natsConf(confPath(compose, 'hub-1')), {
    serverName: 'hub-1',
    clientPort: 4222,
    clusterPort: 6222,
    leafPort: 7422,
    domain: HUB_DOMAIN,
    tlsDir: '/etc/nats/tls',
    routes: ['tls://hub-2:6222', 'tls://hub-3:6222'],
  });
  t.match(natsConf(confPath(compose, LEAF)), { host: '127.0.0.1', clientPort: 4222, domain: SITE, clusterPort: null });
  t.same(publishedPorts(compose.services[LEAF]!).sort(), ['*:8443->8443', '*:8802->802', '127.0.0.1:9802->9802']);
  t.same(networksOf(compose.services[PLC]!), ['ot'], 'the PLC reaches only the OT side');
  const it = compose.services[LEAF]!.networks as Record<string, { aliases?: string[] } | null>;
  t.same(it['it']?.aliases, [GATEWAY], 'plant clients dial the gateway by its name');
});

t.test('the fleet topology rules catch broken variants', async (t) => {
  if (typeof compose === 'string') return void t.fail(compose);
  const broken = (edit: (c: ComposeConfig) => void): string => {
    const c = structuredClone(compose);
    edit(c);
    return fleetProblems(c).join('\n');
  };
  const cases: [string, (c: ComposeConfig) => void, RegExp][] = [
    ['plc on wan', (c) => void (c.services[PLC]!.networks = ['ot', 'wan']), /ot members|wan members/],
    ['wan not internal', (c) => void (c.networks!['wan'] = {}), /wan is not internal/],
    ['hub publishes', (c) => void (c.services['hub-2']!.ports = ['4222:4222']), /hub-2 publishes ports/],
    ['unpinned nats', (c) => void (c.services['hub-1']!.image = 'nats'), /hub-1: image "nats" is not pinned/],
    ['other nats', (c) => void (c.services['hub-3']!.image = 'nats:2.10.0'), /hub-3 is not nats:2\.15\.2/],
    [
      'wrong conf',
      (c) => void (c.services['hub-2']!.volumes![0] = `${at('fleet-config/hub-1.conf')}:/etc/nats/hub-2.conf:ro`),
      /hub-2 does not mount fleet-config\/hub-2\.conf/,
    ],
    ['svid rw', (c) => void (c.services['hub-1']!.volumes![1] = 'svid-hub-1:/etc/nats/tls'), /read-only at/],
    ['svid of another', (c) => void (c.services[LEAF]!.volumes![1] = 'svid-hub-1:/etc/nats/tls:ro'), /leaf-site-a/],
    ['no store volume', (c) => void c.services['hub-3']!.volumes!.pop(), /store \/var\/lib\/nats/],
    ['gateway off the box', (c) => void (c.services[GATEWAY]!.network_mode = 'bridge'), /network namespace/],
    ['fetch networked', (c) => void (c.services['svid-hub-1']!.network_mode = 'bridge'), /svid-hub-1 has a network/],
    ['fetch forever', (c) => void (c.services['svid-leaf-site-a']!.restart = 'always'), /not a one-shot/],
    ['no wait', (c) => void (c.services['hub-1']!.depends_on = {}), /hub-1 does not wait for its SVID/],
    ['control early', (c) => void (c.services['control']!.depends_on = ['control-init']), /wait for control init/],
  ];
  for (const [what, edit, re] of cases) t.match(broken(edit), re, what);
});

t.test('every bind-mounted file or directory exists in the repository', async (t) => {
  if (typeof compose === 'string') return void t.fail(compose);
  const binds = Object.values(compose.services)
    .flatMap(mountsOf)
    .filter((m) => m.source.startsWith('/'));
  t.ok(binds.length >= 8, `${binds.length} bind mounts`);
  for (const m of binds) {
    t.ok(m.source.startsWith(`${REPO_ROOT}/`), `${m.source} is inside the repository`);
    t.ok(existsSync(m.source), `${m.source.slice(REPO_ROOT.length + 1)} exists`);
    t.ok(m.readOnly, `${m.source.slice(REPO_ROOT.length + 1)} mounted read-only`);
  }
});

t.test("the edge gateway's gateway.yaml loads and matches its leaf, PLC, ports and volumes", async (t) => {
  if (typeof compose === 'string') return void t.fail(compose);
  const gw = gatewayConfigDir(compose);
  const dir = mountsOf(gw).find((m) => m.target === '/etc/verigate');
  t.equal(dir?.source, at(`deploy/compose/fleet/${GATEWAY}`));
  const config = loadGatewayConfig(at(`deploy/compose/fleet/${GATEWAY}/gateway.yaml`));
  const leaf = natsConf(confPath(compose, LEAF));
  const td = compose.services['spire-registrar']!.environment?.['TRUST_DOMAIN'] ?? '';
  t.equal(td, 'plant.example');
  t.ok(config.fleet, 'a fleet member');
  const f = config.fleet!;
  t.equal(f.site, leaf.domain, "fleet.site is the leaf's JetStream domain");
  t.equal(f.leaf.url, `tls://127.0.0.1:${leaf.clientPort}`, "fleet.leaf.url is the box's leaf on loopback");
  t.equal(f.leaf.caFile, null, 'the leaf is checked by its SPIFFE ID against our bundle');
  t.ok(leaf.users.includes(fleetIds.gateway(td, f.site, f.name)), `the leaf has a user for ${f.name}`);
  t.same(f.policySigners, [fleetIds.control(td)], 'policy signed by the control identity only');
  t.equal(config.identity.source, 'workload-api');
  t.equal(config.identity.socket, `unix://${AGENT_SOCKET_DIR}/api.sock`);
  t.equal(gw.environment?.['SPIFFE_ENDPOINT_SOCKET'], `unix://${AGENT_SOCKET_DIR}/api.sock`);
  const ports = publishedPorts(compose.services[LEAF]!).map((p) => Number(p.split('->')[1]));
  t.same(
    [config.listeners.mbaps.port, config.listeners.grpc?.port, config.listeners.metrics?.port].sort(),
    ports.sort(),
    "the edge box publishes exactly the gateway's listener ports",
  );
  for (const d of config.devices) {
    const cmd = compose.services[d.host]?.command ?? [];
    t.equal(d.host, PLC, `device ${d.name} targets ${PLC}`);
    t.equal(cmd[cmd.indexOf('--port') + 1], String(d.port), `${PLC} listens on the port gateway.yaml dials`);
  }
  for (const dir of [config.stateDir, config.audit.dir]) {
    t.ok(
      mountsOf(gw).some((m) => m.target === dir && isNamedVolume(compose, m.source)),
      `${dir} is on a named volume`,
    );
  }
  t.equal(
    config.policy.file,
    `${config.stateDir}/policy.yaml`,
    'a fleet-applied policy is written to the state volume',
  );
  t.match(gw.command?.join(' ') ?? '', /cp \/etc\/verigate\/policy\.yaml \/var\/lib\/verigate\/state\/policy\.yaml/);
  t.match(gw.command?.join(' ') ?? '', /exec node .*verigate\.js run --config \/etc\/verigate\/gateway\.yaml$/);
  const policy = loadPolicyFile(at(`deploy/compose/fleet/${GATEWAY}/policy.yaml`));
  t.equal(policy.trustDomain, td, 'the seed policy loads, in the fleet trust domain');
});

t.test('fleet-control.yaml loads and points at the hub services', async (t) => {
  if (typeof compose === 'string') return void t.fail(compose);
  const ctl = compose.services['control']!;
  t.equal(ctl.environment?.['VERIGATE_FLEET_CONFIG'], '/etc/verigate/fleet-control.yaml');
  t.equal(mountsOf(ctl).find((m) => m.target === '/etc/verigate')?.source, at('deploy/compose/fleet/control'));
  const config = loadFleetControlConfig(at('deploy/compose/fleet/control/fleet-control.yaml'));
  t.same(
    config.hub.urls,
    HUBS.map((h) => `tls://${h}:${natsConf(confPath(compose, h)).clientPort}`),
    "the hub services' client ports",
  );
  t.same(config.sites, [SITE]);
  t.equal(config.identity.source, 'workload-api');
  t.ok(
    mountsOf(ctl).some((m) => m.target === config.audit.dir && isNamedVolume(compose, m.source)),
    'the verified audit trails are on a named volume',
  );
  const hub = natsConf(confPath(compose, 'hub-1'));
  const td = compose.services['spire-registrar']!.environment?.['TRUST_DOMAIN'] ?? '';
  t.ok(hub.users.includes(fleetIds.control(td)), 'the hub has the control user');
  t.ok(hub.users.includes(fleetIds.leaf(td, SITE)), `the hub has the ${SITE} leaf user`);
});

t.test('SPIRE entries: each workload gets exactly its fleet identity', async (t) => {
  if (typeof compose === 'string') return void t.fail(compose);
  const reg = compose.services['spire-registrar']!;
  const script = reg.environment?.['ENTRIES_SCRIPT'] ?? '';
  const src = mountsOf(reg).find((m) => m.target === script)?.source ?? '';
  t.equal(src, at('deploy/compose/fleet/fleet-entries.sh'), 'the registrar sources the fleet entries');
  t.match(readFileSync(at('deploy/compose/registrar/register.sh'), 'utf8'), /\. "\$ENTRIES_SCRIPT"/);
  const entries = [
    ...readFileSync(src, 'utf8').matchAll(
      /^entry "spiffe:\/\/\$TD(\/\S+)" unix:gid:(\d+) -selector unix:uid:(\d+)(?: -dns (\S+))?$/gm,
    ),
  ].map((m) => ({ path: m[1]!, user: `${m[3]}:${m[2]}`, dns: m[4] ?? null }));
  t.equal(entries.length, 6, 'six entries, all keyed on uid and gid');
  t.equal(new Set(entries.map((e) => e.user)).size, entries.length, 'no two entries share a uid:gid');
  const td = reg.environment?.['TRUST_DOMAIN'] ?? '';
  const idOf = (user: string): string | undefined => {
    const e = entries.find((x) => x.user === user);
    return e ? `spiffe://${td}${e.path}` : undefined;
  };
  HUBS.forEach((h, i) => {
    const user = compose.services[`svid-${h}`]!.user ?? '';
    t.equal(idOf(user), fleetIds.hubNode(td, i + 1), `svid-${h} (${user}) fetches ${h}'s SVID`);
    t.equal(entries.find((e) => e.user === user)?.dns, h, `${h}'s SVID names the host the others dial`);
  });
  t.equal(idOf(compose.services[`svid-${LEAF}`]!.user ?? ''), fleetIds.leaf(td, SITE));
  const f = loadGatewayConfig(at(`deploy/compose/fleet/${GATEWAY}/gateway.yaml`)).fleet!;
  t.equal(compose.services[GATEWAY]!.user, undefined, 'the gateway runs as the image user');
  t.match(readFileSync(at('Dockerfile'), 'utf8'), /^USER 10001:10001$/m);
  t.equal(idOf('10001:10001'), fleetIds.gateway(td, f.site, f.name), 'the gateway (image user) is gw-1');
  for (const n of ['control-init', 'control'])
    t.equal(idOf(compose.services[n]!.user ?? ''), fleetIds.control(td), `${n} is the control identity`);
});
