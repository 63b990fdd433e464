/**
 * `verigate control`'s connection to the hub: mutual TLS with the control SVID to the hub cluster's client
 * URLs (NATS maps the URI SAN to the user `spiffe://<td>/fleet/control`), JetStream in domain `hub`, and the
 * per-site KV buckets (gateway/fleet/fleet-topology.ts). Names come from fleet-topology.ts only.
 */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { GatewayError, errorMessage } from '../errors.js';
import type { FleetControlConfig } from '../fleet/fleet-control-config.js';
import { HUB_DOMAIN, siteBucket } from '../fleet/fleet-topology.js';
import type { ControlIdentity } from './control-identity.js';

export interface Hub {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  jsm(): Promise<JetStreamManager>;
  /** The hub's bucket of one site (it must exist: `verigate control init` creates it). */
  site(site: string): Promise<KV>;
  close(): Promise<void>;
}

export interface HubConnectOptions {
  /** The connection's name at the server (default verigate-control). */
  readonly name?: string;
  /**
   * Reply subjects under this prefix instead of `_INBOX`: requests INTO a site's domain go over a connection with
   * `controlInboxPrefix(site)`, the only replies that site's leaf may send across the leaf link.
   */
  readonly inboxPrefix?: string;
}

export async function connectHub(
  config: FleetControlConfig,
  identity: ControlIdentity,
  opts: HubConnectOptions = {},
): Promise<Hub> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: [...config.hub.urls],
      name: opts.name ?? 'verigate-control',
      timeout: config.hub.connectTimeoutMs,
      ...(opts.inboxPrefix === undefined ? {} : { inboxPrefix: opts.inboxPrefix }),
      // Node TLS options pass through to tls.connect (transport-node extends its defaults with them).
      tls: identity.hubTls(config.hub.caFile) as never,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
    });
  } catch (err) {
    throw new GatewayError(
      'GW_ERR_USAGE',
      `control: cannot reach the hub at ${config.hub.urls.join(', ')}: ${errorMessage(err)}`,
      { cause: err },
    );
  }
  const js = jetstream(nc, { domain: HUB_DOMAIN });
  const kvm = new Kvm(js);
  const buckets = new Map<string, Promise<KV>>();
  return {
    nc,
    js,
    jsm: () => jetstreamManager(nc, { domain: HUB_DOMAIN }),
    site: (site) => {
      let kv = buckets.get(site);
      if (!kv) {
        kv = kvm.open(siteBucket(site));
        buckets.set(site, kv);
      }
      return kv;
    },
    close: async () => {
      if (!nc.isClosed()) await nc.drain().catch(() => nc.close());
    },
  };
}
