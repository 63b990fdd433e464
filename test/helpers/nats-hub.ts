/**
 * One nats-server standing in for the hub in unit tests of `verigate control`: JetStream in domain `hub`,
 * mutual TLS with dev-CA SVIDs (the control's and a hub node's), on a free 127.0.0.1 port in a temp dir, and
 * a fleet-control.yaml pointing at it. The 3-node hub with leaves is test/fleet/fleet-lab.ts; this is the
 * smallest server the commands can talk to. Always `await hub.stop()` (t.teardown).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { fleetIds, HUB_DOMAIN, siteBucket } from '../../gateway/fleet/fleet-topology.js';
import { DevCa } from '../../gateway/identity/dev-ca.js';
import { derToPem } from '../../gateway/identity/x509-svid.js';
import { freePort } from './free-port.js';
import { NatsServerProcess } from '../fleet/nats-process.js';
import { eventually } from './eventually.js';

export const HUB_TD = 'plant.example';

export interface TestHub {
  readonly dir: string;
  readonly url: string;
  /** fleet-control.yaml for these sites (and group `all`) with the control's files. */
  readonly configFile: string;
  readonly ca: DevCa;
  /** A control-side connection (closed by stop). */
  connect(): Promise<NatsConnection>;
  /** Creates the site buckets (R1) the commands write to. */
  createBuckets(sites: readonly string[]): Promise<void>;
  /** Files of another identity minted by the same CA (e.g. a control with another SPIFFE ID). */
  mint(label: string, spiffeId: string): Promise<{ cert: string; key: string }>;
  stop(): Promise<void>;
}

async function writePem(
  dir: string,
  label: string,
  ca: DevCa,
  spiffeId: string,
): Promise<{ cert: string; key: string }> {
  const m = await ca.mintX509Svid({ spiffeId });
  const cert = join(dir, `${label}.pem`);
  const key = join(dir, `${label}.key`);
  await writeFile(cert, m.chainDer.map((d) => derToPem(d, 'CERTIFICATE')).join(''), { mode: 0o600 });
  await writeFile(key, derToPem(m.keyDer, 'PRIVATE KEY'), { mode: 0o600 });
  return { cert, key };
}

export async function startTestHub(sites: readonly string[] = ['site-a', 'site-b']): Promise<TestHub> {
  const dir = await mkdtemp(join(tmpdir(), 'vg-control-hub-'));
  const ca = await DevCa.create({ trustDomain: HUB_TD });
  const caFile = join(dir, 'ca.pem');
  await writeFile(caFile, ca.bundlePem());
  const node = await writePem(dir, 'hub-1', ca, fleetIds.hubNode(HUB_TD, 1));
  const control = await writePem(dir, 'control', ca, fleetIds.control(HUB_TD));
  const port = await freePort();
  const conf = join(dir, 'hub.conf');
  await writeFile(
    conf,
    [
      'server_name: "test-hub"',
      'host: "127.0.0.1"',
      `port: ${port}`,
      `tls { cert_file: "${node.cert}", key_file: "${node.key}", ca_file: "${caFile}", verify: true, timeout: 5 }`,
      `jetstream { domain: "${HUB_DOMAIN}", store_dir: "${join(dir, 'js')}", max_memory_store: 16MB, max_file_store: 256MB }`,
    ].join('\n') + '\n',
  );
  const configFile = join(dir, 'fleet-control.yaml');
  await writeFile(
    configFile,
    [
      'version: 1',
      `hub: { urls: [tls://127.0.0.1:${port}], connectTimeout: 3s }`,
      `identity: { files: { cert: control.pem, key: control.key, bundle: ca.pem } }`,
      `sites: [${sites.join(', ')}]`,
      `groups: { all: [${sites.join(', ')}], first: [${sites[0] ?? ''}] }`,
      'heartbeatEvery: 1s',
      'audit: { dir: fleet-audit }',
    ].join('\n') + '\n',
  );
  const proc = new NatsServerProcess('test-hub', conf, join(dir, 'hub.log'));
  proc.start();
  const url = `tls://127.0.0.1:${port}`;
  const conns = new Set<NatsConnection>();
  const open = async (): Promise<NatsConnection> => {
    const nc = await connect({
      servers: url,
      // The chain is verified against the CA; the hub's SVID has a URI SAN, no host name (as the control's
      // own client checks it: gateway/cli/control-identity.ts).
      tls: { certFile: control.cert, keyFile: control.key, caFile, checkServerIdentity: () => undefined } as never,
      reconnect: false,
      timeout: 2000,
    });
    conns.add(nc);
    return nc;
  };
  const stop = async (): Promise<void> => {
    for (const nc of conns) await nc.close().catch(() => undefined);
    await proc.stop(3000);
    if (!process.env['KEEP_FLEET_LAB']) await rm(dir, { recursive: true, force: true });
  };
  try {
    await eventually(
      'test hub JetStream',
      async () => {
        const nc = await open();
        try {
          await (await jetstreamManager(nc)).getAccountInfo();
          return true;
        } finally {
          await nc.close();
          conns.delete(nc);
        }
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );
  } catch (err) {
    const log = await proc.log();
    await stop();
    throw new Error(`${(err as Error).message}\n${log}`);
  }
  return {
    dir,
    url,
    configFile,
    ca,
    connect: open,
    createBuckets: async (names) => {
      const nc = await open();
      const kvm = new Kvm(nc);
      for (const s of names) await kvm.create(siteBucket(s), { history: 5 });
    },
    mint: (label, spiffeId) => writePem(dir, label, ca, spiffeId),
    stop,
  };
}
