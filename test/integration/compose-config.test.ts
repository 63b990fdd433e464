/**
 * The deployment artefacts, checked without a Docker engine:
 * - docker-compose.yml as Compose itself resolves it (`docker-compose config`): PLCs only on the internal OT
 *   network, the gateway on both sides, the agent socket volume shared by agent, gateway and client, images
 *   pinned, the registrar one-shot, start order by health;
 * - the identities the registrar creates match the uids the images run as, and the compose policy grants them;
 * - the compose and edge gateway.yaml / policy.yaml load with the gateway's own loaders;
 * - the systemd unit has the hardening and wiring the operator guide promises, and systemd parses it.
 * Each topology rule is a function of the resolved config, also run on broken variants so it can fail.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { loadGatewayConfig } from '../../gateway/config/gateway-config.js';
import { loadPolicyFile } from '../../gateway/policy/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const at = (p: string): string => join(root, p);
const AGENT_SOCKET_DIR = '/run/spire/agent/public';
const GATEWAY_CONFIG_DIR = '/etc/verigate';

type Mount = { source: string; target: string; readOnly: boolean };
interface Service {
  image?: string;
  build?: { context: string } | string;
  command?: string[];
  networks?: Record<string, unknown> | string[];
  network_mode?: string;
  volumes?: (string | { type?: string; source?: string; target: string; read_only?: boolean })[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition?: string }> | string[];
  restart?: string;
  pid?: string;
  user?: string;
  ports?: unknown[];
}
interface ComposeConfig {
  services: Record<string, Service>;
  networks?: Record<string, { internal?: boolean } | null>;
  volumes?: Record<string, unknown>;
}

function networksOf(s: Service): string[] {
  if (!s.networks) return s.network_mode ? [] : ['default'];
  return Array.isArray(s.networks) ? s.networks : Object.keys(s.networks);
}

function mountsOf(s: Service): Mount[] {
  return (s.volumes ?? []).map((v) => {
    if (typeof v !== 'string') return { source: v.source ?? '', target: v.target, readOnly: v.read_only === true };
    const [source = '', target = '', mode = ''] = v.split(':');
    return { source, target, readOnly: mode.split(',').includes('ro') };
  });
}

function dependsOn(s: Service, name: string): string | null {
  const d = s.depends_on;
  if (!d) return null;
  if (Array.isArray(d)) return d.includes(name) ? 'service_started' : null;
  return d[name] ? (d[name]?.condition ?? 'service_started') : null;
}

const plcNames = (c: ComposeConfig): string[] => Object.keys(c.services).filter((n) => n.startsWith('plc-'));

/** Every broken rule of the lab's topology, as a sentence; [] when the topology is right. */
function topologyProblems(c: ComposeConfig): string[] {
  const p: string[] = [];
  const svc = c.services;
  const gw = svc['verigate'];
  const agent = svc['spire-agent'];
  const registrar = svc['spire-registrar'];
  if (!gw || !agent || !registrar || !svc['spire-server'] || !svc['client'])
    return ['missing one of verigate, spire-server, spire-agent, spire-registrar, client'];
  if (c.networks?.['ot']?.internal !== true) p.push('network ot is not internal');
  const plcs = plcNames(c);
  if (plcs.length < 2) p.push(`expected two or more plc-* services, got ${plcs.length}`);
  for (const n of plcs) {
    const s = svc[n]!;
    if (networksOf(s).join() !== 'ot') p.push(`${n} is on [${networksOf(s).join(', ')}], must be on ot only`);
    if (s.ports?.length) p.push(`${n} publishes ports`);
    if (s.network_mode) p.push(`${n} has network_mode ${s.network_mode}`);
  }
  const onOt = Object.keys(svc)
    .filter((n) => networksOf(svc[n]!).includes('ot'))
    .sort();
  const allowedOnOt = [...plcs, 'verigate'].sort();
  if (onOt.join() !== allowedOnOt.join())
    p.push(`ot members are [${onOt.join(', ')}], must be [${allowedOnOt.join(', ')}]`);
  for (const n of ['ot', 'it']) if (!networksOf(gw).includes(n)) p.push(`verigate is not on ${n}`);
  const agentSock = mountsOf(agent).find((m) => m.target === AGENT_SOCKET_DIR);
  if (!agentSock) p.push(`spire-agent does not mount a volume at ${AGENT_SOCKET_DIR}`);
  else if (!(agentSock.source in (c.volumes ?? {})))
    p.push(`agent socket source "${agentSock.source}" is not a named volume`);
  for (const n of ['verigate', 'client']) {
    const m = mountsOf(svc[n]!).find((x) => x.target === AGENT_SOCKET_DIR);
    if (!agentSock || m?.source !== agentSock.source) p.push(`${n} does not share the agent socket volume`);
    else if (!m.readOnly) p.push(`${n} mounts the agent socket read-write`);
    if (svc[n]!.pid !== 'service:spire-agent') p.push(`${n} does not share the agent's PID namespace (unix attestor)`);
  }
  for (const [name, s] of Object.entries(svc)) {
    const image = s.image ?? '';
    const tag = image.includes(':') ? image.slice(image.lastIndexOf(':') + 1) : '';
    if (!tag || tag === 'latest') p.push(`${name}: image "${image}" is not pinned by a version tag`);
  }
  if (svc['spire-server'].image !== 'ghcr.io/spiffe/spire-server:1.13.3')
    p.push('spire-server is not the official 1.13.3 image');
  if (agent.image !== 'ghcr.io/spiffe/spire-agent:1.13.3') p.push('spire-agent is not the official 1.13.3 image');
  for (const n of plcs) if (svc[n]!.image !== gw.image) p.push(`${n} does not run the gateway image`);
  if (registrar.restart !== 'no') p.push(`spire-registrar restart is "${registrar.restart}", must be "no" (one-shot)`);
  if (dependsOn(registrar, 'spire-server') !== 'service_healthy')
    p.push('spire-registrar does not wait for a healthy spire-server');
  if (dependsOn(agent, 'spire-registrar') !== 'service_completed_successfully')
    p.push('spire-agent does not wait for the registrar to finish');
  if (dependsOn(gw, 'spire-agent') !== 'service_healthy') p.push('verigate does not wait for a healthy spire-agent');
  return p;
}

function composeConfig(): ComposeConfig | string {
  const r = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 15_000,
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    return 'docker-compose is not installed: apt-get install docker-compose (Compose 1.29 validates the file without an engine)';
  }
  if (r.status !== 0) return `docker-compose config failed (${r.status ?? r.signal}): ${r.stderr}`;
  return parse(r.stdout) as ComposeConfig;
}

/** Distinct images named by FROM lines of a Dockerfile, minus earlier stage names. */
function fromImages(file: string): string[] {
  const stages = new Set<string>();
  const images: string[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i.exec(line.trim());
    if (!m) continue;
    if (!stages.has(m[1]!) && !images.includes(m[1]!)) images.push(m[1]!);
    if (m[2]) stages.add(m[2]);
  }
  return images;
}

const compose = composeConfig();

t.test('docker-compose resolves the file', async (t) => {
  if (typeof compose === 'string') {
    t.fail(compose);
    return;
  }
  t.ok(compose.services, 'services resolved');
});

t.test('topology: OT isolation, shared agent socket, pinned images, one-shot registration', async (t) => {
  if (typeof compose === 'string') return void t.fail(compose);
  t.same(topologyProblems(compose), [], 'no topology problem');
  t.same(plcNames(compose).sort(), ['plc-tank', 'plc-turbine']);
  t.same(networksOf(compose.services['client']!), ['it'], 'the client reaches only the IT side');
  t.same(networksOf(compose.services['spire-registrar']!), [], 'the registrar has no network (admin socket only)');
  t.equal(compose.networks?.['spire']?.internal, true, 'SPIRE traffic stays internal');
});

t.test('the topology rules catch broken variants', async (t) => {
  if (typeof compose === 'string') return void t.fail(compose);
  const broken = (edit: (c: ComposeConfig) => void): string[] => {
    const c = structuredClone(compose);
    edit(c);
    return topologyProblems(c);
  };
  t.match(
    broken((c) => {
      c.services['plc-tank']!.networks = { ot: null, it: null };
    }).join('\n'),
    /plc-tank is on \[ot, it\]/,
  );
  t.match(
    broken((c) => {
      c.services['client']!.networks = { it: null, ot: null };
    }).join('\n'),
    /ot members/,
  );
  t.match(
    broken((c) => {
      c.networks!['ot'] = {};
    }).join('\n'),
    /ot is not internal/,
  );
  t.match(
    broken((c) => {
      c.services['verigate']!.networks = { it: null };
    }).join('\n'),
    /verigate is not on ot/,
  );
  t.match(
    broken((c) => {
      c.services['verigate']!.volumes = [];
    }).join('\n'),
    /verigate does not share the agent socket/,
  );
  t.match(
    broken((c) => {
      c.services['client']!.volumes = [`other:${AGENT_SOCKET_DIR}:ro`];
    }).join('\n'),
    /client does not share/,
  );
  t.match(
    broken((c) => {
      c.services['spire-agent']!.image = 'ghcr.io/spiffe/spire-agent:latest';
    }).join('\n'),
    /not pinned/,
  );
  t.match(
    broken((c) => {
      c.services['plc-turbine']!.image = 'verigate';
    }).join('\n'),
    /plc-turbine: image "verigate" is not pinned/,
  );
  t.match(
    broken((c) => {
      c.services['spire-registrar']!.restart = 'on-failure';
    }).join('\n'),
    /one-shot/,
  );
  t.match(
    broken((c) => {
      c.services['spire-agent']!.depends_on = ['spire-registrar'];
    }).join('\n'),
    /wait for the registrar/,
  );
});

t.test('gateway and PLC commands, config mount and port wiring', async (t) => {
  if (typeof compose === 'string') return void t.fail(compose);
  const gw = compose.services['verigate']!;
  t.same(gw.command, [
    'node',
    '--max-semi-space-size=8',
    'dist/gateway/cli/verigate.js',
    'run',
    '--config',
    `${GATEWAY_CONFIG_DIR}/gateway.yaml`,
  ]);
  const confMount = mountsOf(gw).find((m) => m.target === GATEWAY_CONFIG_DIR);
  t.equal(
    confMount?.source,
    at('deploy/compose/verigate'),
    'gateway.yaml and policy.yaml come from deploy/compose/verigate',
  );
  t.equal(confMount?.readOnly, true, 'config mounted read-only');
  t.equal(gw.environment?.['SPIFFE_ENDPOINT_SOCKET'], `unix://${AGENT_SOCKET_DIR}/api.sock`);
  const config = loadGatewayConfig(at('deploy/compose/verigate/gateway.yaml'));
  t.equal(config.identity.source, 'workload-api');
  t.equal(config.identity.socket, `unix://${AGENT_SOCKET_DIR}/api.sock`, 'gateway.yaml reads the shared agent socket');
  t.equal(config.listeners.mbaps.port, 802);
  t.equal(config.policy.file, at('deploy/compose/verigate/policy.yaml'), 'policy next to gateway.yaml (same mount)');
  for (const d of config.devices) {
    const plc = compose.services[d.host];
    t.ok(plc && d.host.startsWith('plc-'), `device ${d.name} targets PLC service ${d.host}`);
    const cmd = plc?.command ?? [];
    t.same(cmd.slice(0, 2), ['node', 'dist/simulators/cli.js'], `${d.host} runs the simulator CLI`);
    t.equal(cmd[cmd.indexOf('--port') + 1], String(d.port), `${d.host} listens on the port gateway.yaml dials`);
    t.equal(cmd[cmd.indexOf('--host') + 1], '0.0.0.0', `${d.host} listens beyond loopback`);
    t.match(cmd[cmd.indexOf('--scenario') + 1] ?? '', /^dist\/simulators\/scenarios\/[a-z-]+\.yaml$/);
  }
  for (const name of ['state', 'audit']) {
    const dir = name === 'state' ? config.stateDir : config.audit.dir;
    t.ok(
      mountsOf(gw).some((m) => m.target === dir && m.source in (compose.volumes ?? {})),
      `${name} dir ${dir} is on a named volume`,
    );
  }
});

t.test('images: Dockerfiles pinned, gateway built as specified', async (t) => {
  if (typeof compose === 'string') return void t.fail(compose);
  const contexts = new Set(
    Object.values(compose.services)
      .map((s) => (typeof s.build === 'string' ? s.build : s.build?.context))
      .filter(Boolean),
  );
  t.same([...contexts].sort(), [root, at('deploy/compose/client'), at('deploy/compose/registrar')].sort());
  for (const ctx of contexts) {
    for (const image of fromImages(join(ctx!, 'Dockerfile'))) {
      t.match(image, /^[^:@\s]+:[0-9][^:\s]*$/, `${ctx}/Dockerfile FROM ${image} pinned by a version tag`);
    }
  }
  const df = readFileSync(at('Dockerfile'), 'utf8');
  t.same(fromImages(at('Dockerfile')), ['node:20-bookworm-slim']);
  t.match(df, /RUN npm ci\b/);
  t.match(df, /npm run build/);
  t.match(df, /^USER 10001:10001$/m, 'runs as the unprivileged verigate uid');
  t.match(readFileSync(at('.dockerignore'), 'utf8'), /^node_modules$/m);
});

t.test('registration: entries match the uids the images run as, and the policy knows them', async (t) => {
  const script = readFileSync(at('deploy/compose/registrar/register.sh'), 'utf8');
  const entries = new Map(
    [...script.matchAll(/^entry "spiffe:\/\/\$TD(\/\S+)" unix:uid:(\d+)/gm)].map((m) => [m[1]!, Number(m[2])]),
  );
  t.equal(entries.get('/verigate'), 10001, 'gateway entry selects uid 10001');
  t.match(readFileSync(at('Dockerfile'), 'utf8'), /--uid 10001/, 'the gateway image user is uid 10001');
  const clientDf = readFileSync(at('deploy/compose/client/Dockerfile'), 'utf8');
  const clientUid = Number(/^USER (\d+)/m.exec(clientDf)?.[1]);
  t.equal(entries.get('/historian'), clientUid, 'the sample client runs as the historian entry uid');
  t.match(script, /-dns verigate/, 'gateway SVID carries the DNS SAN of its compose host name');
  t.match(script, /token generate -spiffeID "\$NODE"/, 'join token bound to the node alias');
  t.match(script, /-parentID "\$NODE"/, 'entries parented to the node alias');
  const policy = loadPolicyFile(at('deploy/compose/verigate/policy.yaml'));
  t.equal(policy.trustDomain, 'plant.example');
  const named = (id: string): boolean =>
    policy.rules.some((r) => r.effect === 'allow' && r.matchesPrincipal({ id, role: null }));
  for (const path of entries.keys()) {
    if (path !== '/verigate') t.ok(named(`spiffe://plant.example${path}`), `policy grants something to ${path}`);
  }
  t.notOk(named('spiffe://plant.example/verigate'), 'the gateway identity itself has no rule');
});

t.test('edge example: gateway.yaml and policy.yaml validate', async (t) => {
  const c = loadGatewayConfig(at('deploy/edge/gateway.yaml'));
  t.equal(c.listeners.mbaps.port, 802);
  t.equal(c.identity.source, 'workload-api');
  t.equal(c.identity.socket, `unix://${AGENT_SOCKET_DIR}/api.sock`);
  t.equal(c.devices.length, 2);
  t.equal(c.audit.fsync, 'always');
  t.equal(c.audit.syslog?.port, 6514);
  t.equal(c.policy.file, '/etc/verigate/policy.yaml');
  const p = loadPolicyFile(at('deploy/edge/policy.yaml'));
  const deviceNames = new Set(c.devices.map((d) => d.name));
  for (const { test } of p.tests)
    t.ok(deviceNames.has(test.device), `policy test device ${test.device} exists in gateway.yaml`);
});

t.test('systemd unit: identity, capabilities, sandbox, reload', async (t) => {
  const text = readFileSync(at('deploy/systemd/verigate.service'), 'utf8');
  const values = (key: string): string[] =>
    [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!.trim());
  const one = (key: string): string | undefined => values(key).at(-1);
  t.equal(one('User'), 'verigate');
  t.equal(one('AmbientCapabilities'), 'CAP_NET_BIND_SERVICE');
  t.equal(one('CapabilityBoundingSet'), 'CAP_NET_BIND_SERVICE');
  t.equal(one('NoNewPrivileges'), 'yes');
  t.equal(one('ProtectSystem'), 'strict');
  t.equal(one('Restart'), 'on-failure');
  t.equal(one('ExecReload'), '/bin/kill -HUP $MAINPID');
  t.match(one('ExecStart') ?? '', / run --config \/etc\/verigate\/gateway\.yaml$/);
  t.ok(values('Environment').includes(`SPIFFE_ENDPOINT_SOCKET=unix://${AGENT_SOCKET_DIR}/api.sock`));
  const edge = loadGatewayConfig(at('deploy/edge/gateway.yaml'));
  const writable = values('ReadWritePaths')
    .flatMap((v) => v.split(/\s+/))
    .map((p) => p.replace(/^-/, ''));
  for (const dir of [edge.stateDir, edge.audit.dir, edge.audit.syslog?.spoolDir ?? '']) {
    t.ok(
      writable.some((w) => dir === w || dir.startsWith(`${w}/`)),
      `${dir} is writable under ProtectSystem=strict`,
    );
  }
  const r = spawnSync('systemd-analyze', ['verify', at('deploy/systemd/verigate.service')], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (r.error) return void t.fail(`systemd-analyze not runnable (${r.error.message}): apt-get install systemd`);
  t.notMatch(
    `${r.stdout}${r.stderr}`,
    /Unknown (key|section|lvalue)|Failed to parse|Invalid/i,
    'systemd parses every directive',
  );
});
