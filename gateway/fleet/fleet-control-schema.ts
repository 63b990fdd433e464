/**
 * JSON Schema for fleet-control.yaml, the config of `verigate control` (docs/fleet.md "The commands"). Durations
 * are strings like `500ms`, `1s`, `5m`; addresses `host:port`. What the schema leaves optional gets its default
 * in fleet-control-config.ts; what a schema cannot say (a group names a configured site, exactly one identity
 * source) is checked there, with file:line positions.
 */
import { loggingSchema, syslogSchema } from '../config/gateway-config-schema.js';
import { SITE_NAME } from './fleet-topology.js';

const duration = { type: 'string', pattern: '^[0-9]+(ms|s|m|h|d)$' } as const;
const siteName = { type: 'string', pattern: SITE_NAME.source } as const;

export const fleetControlSchema = {
  $id: 'verigate/fleet-control.yaml',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'hub', 'identity', 'sites'],
  properties: {
    version: { const: 1 },
    hub: {
      type: 'object',
      additionalProperties: false,
      required: ['urls'],
      properties: {
        // the hub cluster's client URLs; the client fails over between them
        urls: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^(tls|nats)://[^\\s/]+:[0-9]{1,5}$' } },
        // the CA the hub's certificates chain to; default: our own SPIFFE trust bundle
        caFile: { type: 'string', minLength: 1 },
        connectTimeout: duration,
      },
    },
    identity: {
      type: 'object',
      additionalProperties: false,
      properties: {
        // files: an SVID on disk (PEM chain, PKCS#8 key, trust bundle); workload-api: a SPIRE agent at `socket`
        source: { enum: ['files', 'workload-api'] },
        files: {
          type: 'object',
          additionalProperties: false,
          required: ['cert', 'key', 'bundle'],
          properties: {
            cert: { type: 'string', minLength: 1 },
            key: { type: 'string', minLength: 1 },
            bundle: { type: 'string', minLength: 1 },
          },
        },
        socket: { type: 'string', minLength: 1 },
        startupTimeout: duration,
      },
    },
    sites: { type: 'array', minItems: 1, items: siteName },
    groups: {
      type: 'object',
      propertyNames: { pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' },
      additionalProperties: { type: 'array', minItems: 1, items: siteName },
    },
    // how often `control serve` writes the heartbeat into every site bucket
    heartbeatEvery: duration,
    // gateway names per site that `control serve` keeps status and audit trails for (a bound on what a
    // compromised leaf can make the centre hold); more are ignored and logged
    maxGatewaysPerSite: { type: 'integer', minimum: 1, maximum: 65536 },
    audit: {
      type: 'object',
      additionalProperties: false,
      properties: {
        // per-gateway verified audit files written by `control serve`
        dir: { type: 'string', minLength: 1 },
        // the gateways' audit.checkpoint.every: a trail spanning longer without a checkpoint fails verification
        checkpointEvery: duration,
        // who must have signed a gateway's checkpoints: a SPIFFE ID template with {trustDomain}, {site} and
        // {gateway} (default the fleet convention, fleet-topology.ts fleetIds.gateway), or `any` (any SVID of
        // the trust bundle) where gateway IDs follow no pattern
        checkpointSigner: { type: 'string', pattern: '^(any|spiffe://[^\\s]+)$' },
        // the SIEM, fed once for the whole fleet; shaped like gateway.yaml's audit.syslog
        syslog: syslogSchema,
      },
    },
    logging: loggingSchema,
  },
} as const;

/** fleet-control.yaml as written, after the schema and before defaults. */
export interface FleetControlYaml {
  readonly version: 1;
  readonly hub: { readonly urls: readonly string[]; readonly caFile?: string; readonly connectTimeout?: string };
  readonly identity: {
    readonly source?: 'files' | 'workload-api';
    readonly files?: { readonly cert: string; readonly key: string; readonly bundle: string };
    readonly socket?: string;
    readonly startupTimeout?: string;
  };
  readonly sites: readonly string[];
  readonly groups?: Readonly<Record<string, readonly string[]>>;
  readonly heartbeatEvery?: string;
  readonly maxGatewaysPerSite?: number;
  readonly audit?: {
    readonly dir?: string;
    readonly checkpointEvery?: string;
    readonly checkpointSigner?: string;
    readonly syslog?: {
      readonly address: string;
      readonly format?: 'rfc5424' | 'cef';
      readonly caFile?: string;
      readonly spoolDir?: string;
      readonly spoolMaxBytes?: number;
    };
  };
  readonly logging?: { readonly level?: string };
}
