/**
 * An extra leaf node for isolation tests: it dials the hub's leafnode ports with whatever certificate it is given
 * (a real site leaf's, a rogue CA's, or none) and serves local clients WITHOUT auth on plain TCP, so a test can
 * act as a compromised edge box that bypasses its own leaf's user permissions. What reaches the hub is then
 * bounded only by the leaf-link permissions at the hub (gateway/fleet/fleet-config-render.ts).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { freePort } from '../helpers/free-port.js';
import type { Credentials } from './fleet-lab.js';
import { NatsServerProcess } from './nats-process.js';

export interface RogueLeaf {
  readonly url: string;
  readonly proc: NatsServerProcess;
  linkUp(): Promise<boolean>;
  connect(): Promise<NatsConnection>;
  stop(): Promise<void>;
}

export async function startRogueLeaf(opts: {
  dir: string;
  name: string;
  hubLeafUrls: readonly string[];
  /** The client certificate the leaf presents; null = none (trusting the hub's CA only). */
  creds: Credentials | null;
  caFile: string;
  /** Its JetStream domain (default `rogue-<name>`): a site's name to stand in for that site's leaf. */
  domain?: string;
}): Promise<RogueLeaf> {
  const port = await freePort();
  const monitor = await freePort();
  const store = join(opts.dir, `rogue-${opts.name}`);
  await mkdir(store, { recursive: true });
  const tls = opts.creds
    ? `cert_file: "${opts.creds.certFile}"\n      key_file: "${opts.creds.keyFile}"\n      ca_file: "${opts.caFile}"`
    : `ca_file: "${opts.caFile}"`;
  const conf = `server_name: "rogue-${opts.name}"
host: "127.0.0.1"
port: ${port}
http: "127.0.0.1:${monitor}"
jetstream { domain: "${opts.domain ?? `rogue-${opts.name}`}", store_dir: "${store}", max_memory_store: 8MB, max_file_store: 64MB }
leafnodes {
  reconnect: 1
  remotes: [ { urls: [${opts.hubLeafUrls.map((u) => `"tls://${u}"`).join(', ')}], tls: {
      ${tls}
  } } ]
}
`;
  const file = join(opts.dir, `rogue-${opts.name}.conf`);
  await writeFile(file, conf);
  const proc = new NatsServerProcess(`rogue-${opts.name}`, file, join(opts.dir, `rogue-${opts.name}.log`));
  proc.start();
  const conns: NatsConnection[] = [];
  return {
    url: `nats://127.0.0.1:${port}`,
    proc,
    async linkUp() {
      try {
        const r = await fetch(`http://127.0.0.1:${monitor}/leafz`, { signal: AbortSignal.timeout(2000) });
        return (((await r.json()) as { leafnodes?: number }).leafnodes ?? 0) > 0;
      } catch {
        return false;
      }
    },
    async connect() {
      const nc = await connect({ servers: `nats://127.0.0.1:${port}`, reconnect: false });
      conns.push(nc);
      return nc;
    },
    async stop() {
      await Promise.allSettled(conns.map((nc) => nc.close()));
      await proc.stop(3000);
    },
  };
}
