// Renders fleet-config/ (the sample 2-site fleet: 3 hub nodes, leaves for site-a and site-b) from
// gateway/fleet/fleet-config-render.ts, the same renderer the fleet lab uses, so the samples cannot drift from
// what the tests prove (test/integration/fleet-config-render.test.ts renders into a temp dir and compares).
//   node --import tsx scripts/render-fleet-config.mjs [--out DIR]      (default: fleet-config/)
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { renderHubNode, renderLeaf } from '../gateway/fleet/fleet-config-render.ts';

const { values } = parseArgs({ options: { out: { type: 'string' } } });
const out = values.out ? resolve(values.out) : join(dirname(fileURLToPath(import.meta.url)), '..', 'fleet-config');
const td = 'plant.example';
const sites = ['site-a', 'site-b'];
const hubs = [1, 2, 3];
// The names `spire-agent api fetch x509 -write /etc/nats/tls` gives the first SVID, its key and the trust bundle;
// docker-compose.fleet.yml mounts each server's own SVID volume there.
const tls = {
  certFile: '/etc/nats/tls/svid.0.pem',
  keyFile: '/etc/nats/tls/svid.0.key',
  caFile: '/etc/nats/tls/bundle.0.pem',
};
for (const n of hubs) {
  const conf = renderHubNode({
    trustDomain: td,
    node: n,
    host: '0.0.0.0',
    clientPort: 4222,
    clusterPort: 6222,
    leafPort: 7422,
    routes: hubs.filter((m) => m !== n).map((m) => `hub-${m}:6222`),
    storeDir: '/var/lib/nats',
    tls,
    sites,
  });
  writeFileSync(join(out, `hub-${n}.conf`), conf);
}
for (const site of sites) {
  const conf = renderLeaf({
    trustDomain: td,
    site,
    host: '127.0.0.1',
    clientPort: 4222,
    monitorPort: 8222,
    hubLeafUrls: hubs.map((n) => `hub-${n}:7422`),
    storeDir: '/var/lib/nats',
    tls,
    gateways: ['gw-1', 'gw-2'],
  });
  writeFileSync(join(out, `leaf-${site}.conf`), conf);
}
