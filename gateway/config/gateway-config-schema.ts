/**
 * JSON Schema for gateway.yaml. Durations are strings like `500ms`, `5s`, `5m`, `24h`; addresses `host:port`.
 * Everything optional has a default applied in gateway-config.ts, so the schema stays the single source of
 * what an integrator may write.
 */
import { GATEWAY_NAME, SITE_NAME } from '../fleet/fleet-topology.js';

const duration = { type: 'string', pattern: '^[0-9]+(ms|s|m|h|d)$' } as const;
const port = { type: 'integer', minimum: 0, maximum: 65535 } as const;
const listener = {
  type: 'object',
  additionalProperties: false,
  properties: { host: { type: 'string', minLength: 1 }, port },
} as const;

/** The SIEM receiver (RFC 5425 syslog over mutual TLS); `verigate control`'s fleet-control.yaml uses the same shape. */
export const syslogSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['address'],
  properties: {
    address: { type: 'string', pattern: '^[^:\\s]+:[0-9]{1,5}$' },
    format: { enum: ['rfc5424', 'cef'] },
    caFile: { type: 'string' },
    spoolDir: { type: 'string' },
    spoolMaxBytes: { type: 'integer', minimum: 4096 },
  },
} as const;

export const loggingSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] } },
} as const;

export const gatewayConfigSchema = {
  $id: 'verigate/gateway.yaml',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'devices', 'policy'],
  properties: {
    version: { const: 1 },
    identity: {
      type: 'object',
      additionalProperties: false,
      properties: {
        // workload-api: SPIRE agent (or any Workload API) at `socket` / SPIFFE_ENDPOINT_SOCKET.
        // dev: the embedded dev issuer serves the same Workload API on a private socket.
        source: { enum: ['workload-api', 'dev'] },
        socket: { type: 'string', minLength: 1 },
        startupTimeout: duration,
        dev: {
          type: 'object',
          additionalProperties: false,
          required: ['trustDomain', 'caDir'],
          properties: {
            trustDomain: { type: 'string', minLength: 1 },
            caDir: { type: 'string', minLength: 1 },
            spiffeId: { type: 'string', minLength: 1 },
            svidTtl: duration,
            // DNS SANs beside the URI SAN, for stock clients that verify a hostname (e.g. Go's crypto/tls)
            dnsNames: { type: 'array', items: { type: 'string', minLength: 1 } },
          },
        },
      },
    },
    listeners: {
      type: 'object',
      additionalProperties: false,
      properties: {
        mbaps: {
          type: 'object',
          additionalProperties: false,
          properties: {
            host: { type: 'string', minLength: 1 },
            port,
            // bind this listener to one device: every unit id then reaches it [docs/architecture.md "Request path" 5]
            device: { type: 'string', minLength: 1 },
            handshakeTimeout: duration,
            sessionResumption: { type: 'boolean' },
            maxInFlightPerSession: { type: 'integer', minimum: 1, maximum: 64 },
          },
        },
        grpc: {
          type: 'object',
          additionalProperties: false,
          properties: {
            host: { type: 'string', minLength: 1 },
            port,
            handshakeTimeout: duration,
            sessionResumption: { type: 'boolean' },
            // HTTP/2 PINGs that find a vanished client (bounds checked in gateway-config-checks.ts)
            keepalive: {
              type: 'object',
              additionalProperties: false,
              properties: { time: duration, timeout: duration },
            },
          },
        },
        metrics: listener,
        // connections accepted whose TLS handshake has not completed, over both TLS listeners [IEC 62443-3-3 SR 7.1]
        maxPendingHandshakes: { type: 'integer', minimum: 1, maximum: 65536 },
        maxPendingHandshakesPerSource: { type: 'integer', minimum: 1, maximum: 65536 },
      },
    },
    devices: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'unitId'],
        // reached by Modbus TCP (`address`), a Modbus RTU line on a local port (`serial`), or raw RTU frames to a
        // serial device server (`rtuOverTcp`) [MB-SERIAL]: exactly one, checked with the lines in config/device-link.ts
        properties: {
          // a policy and audit token; the gRPC request bound (MAX_REQUEST_BYTES) leaves room for it
          name: { type: 'string', maxLength: 240, pattern: '^[a-z0-9][a-z0-9._-]*$' },
          address: { type: 'string', pattern: '^[^:\\s]+:[0-9]{1,5}$' },
          serial: {
            type: 'object',
            additionalProperties: false,
            required: ['path'],
            properties: {
              path: { type: 'string', minLength: 1 },
              baudRate: { type: 'integer', minimum: 300, maximum: 4_000_000 },
              parity: { enum: ['none', 'even', 'odd'] },
              stopBits: { enum: [1, 2] },
              dataBits: { enum: [7, 8] },
            },
          },
          rtuOverTcp: { type: 'string', pattern: '^[^:\\s]+:[0-9]{1,5}$' },
          // serial lines: silence after a broadcast [MB-SERIAL 2.4.1]; silence between frames (default t3.5 of the format)
          turnaround: duration,
          interFrameDelay: duration,
          // unit id a Modbus/TCP Security client uses to reach this device through the gateway
          unitId: { type: 'integer', minimum: 0, maximum: 255 },
          // unit id sent to the PLC (default: the same); 255 for a device reached directly over TCP. Policy judges
          // this forwarded unit. With listeners.mbaps.device (one bound device) the client's unit id is
          // forwarded unchanged instead, so clients can address the slaves behind a serial gateway.
          targetUnitId: { type: 'integer', minimum: 0, maximum: 255 },
          maxConnections: { type: 'integer', minimum: 1, maximum: 64 },
          maxInFlight: { type: 'integer', minimum: 1, maximum: 16 },
          timeout: duration,
          queueLimit: { type: 'integer', minimum: 1, maximum: 100000 },
          // commissioning mode (docs/policy.md "Commissioning a plant"): a hard end, at most 30 days ahead
          learn: {
            type: 'object',
            additionalProperties: false,
            required: ['until', 'principals'],
            properties: {
              until: { type: 'string', minLength: 1 },
              principals: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^spiffe://' } },
            },
          },
          tags: {
            type: 'object',
            additionalProperties: {
              type: 'object',
              additionalProperties: false,
              required: ['table', 'address'],
              properties: {
                table: { enum: ['coils', 'discrete', 'holding', 'input'] },
                address: { type: 'integer', minimum: 0, maximum: 65535 },
                count: { type: 'integer', minimum: 1, maximum: 125 },
              },
            },
          },
        },
      },
    },
    // PROFINET IO devices reached by record services (PNIO-CM over UDP); names share one namespace with devices
    profinetDevices: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'host'],
        properties: {
          // a policy and audit token; the gRPC request bound (MAX_REQUEST_BYTES) leaves room for it
          name: { type: 'string', maxLength: 240, pattern: '^[a-z0-9][a-z0-9._-]*$' },
          // an IP address literal: the client accepts answers from this address only
          host: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[0-9a-fA-F.:]+$' },
          port: { type: 'integer', minimum: 1, maximum: 65535 },
          timeout: duration,
          queueLimit: { type: 'integer', minimum: 1, maximum: 100000 },
          arIdleTimeout: duration,
        },
      },
    },
    policy: {
      type: 'object',
      additionalProperties: false,
      required: ['file'],
      properties: {
        file: { type: 'string', minLength: 1 },
        watch: { type: 'boolean' },
        // a candidate policy evaluated beside the enforced one; its verdicts are logged, never enforced
        shadowFile: { type: 'string', minLength: 1 },
      },
    },
    state: {
      type: 'object',
      additionalProperties: false,
      properties: {
        dir: { type: 'string', minLength: 1 },
        // when the lock store exists but cannot be read: refuse everything (default) or run without locks
        lockStoreFailure: { enum: ['fail-closed', 'best-effort'] },
      },
    },
    audit: {
      type: 'object',
      additionalProperties: false,
      properties: {
        dir: { type: 'string', minLength: 1 },
        fsync: { enum: ['always', 'interval', 'never'] },
        segmentBytes: { type: 'integer', minimum: 4096 },
        values: { enum: ['include', 'hash'] },
        failurePolicy: { enum: ['fail-closed', 'continue'] },
        minFreeBytes: { type: 'integer', minimum: 0 },
        // capacity budget of the segment files [IEC 62443-3-3 SR 2.9]; see docs/gateway-yaml.md for the bound
        capacityBytes: { type: 'integer', minimum: 65536 },
        capacityWarnPercent: { type: 'integer', minimum: 1, maximum: 100 },
        reserveBytes: { type: 'integer', minimum: 0 },
        throttle: {
          type: 'object',
          additionalProperties: false,
          properties: {
            interval: duration,
            perKey: { type: 'integer', minimum: 1 },
            perClass: { type: 'integer', minimum: 1 },
            maxEventBytes: { type: 'integer', minimum: 512 },
            maxKeys: { type: 'integer', minimum: 1 },
            summaryEntries: { type: 'integer', minimum: 1 },
          },
        },
        denialFlood: {
          type: 'object',
          additionalProperties: false,
          properties: {
            denials: { type: 'integer', minimum: 1 },
            within: duration,
            holdOff: duration,
            maxHoldOff: duration,
          },
        },
        checkpoint: {
          type: 'object',
          additionalProperties: false,
          properties: { everyEvents: { type: 'integer', minimum: 1 }, every: duration },
        },
        syslog: syslogSchema,
      },
    },
    logging: loggingSchema,
    // fleet membership (docs/fleet.md): absent = a standalone gateway, nothing changes
    fleet: {
      type: 'object',
      additionalProperties: false,
      required: ['site', 'name'],
      properties: {
        site: { type: 'string', pattern: SITE_NAME.source },
        name: { type: 'string', pattern: GATEWAY_NAME.source },
        // the site's own leaf node on this box, reached with mutual TLS and the gateway's SVID
        leaf: {
          type: 'object',
          additionalProperties: false,
          properties: {
            url: { type: 'string', pattern: '^tls://[^\\s/]+:[0-9]{1,5}$' },
            caFile: { type: 'string', minLength: 1 },
          },
        },
        policySigners: { type: 'array', items: { type: 'string', pattern: '^spiffe://' } },
        maxStaleness: duration,
        statusEvery: duration,
        policyMaxAge: duration,
        audit: {
          type: 'object',
          additionalProperties: false,
          properties: {
            maxBlockEvents: { type: 'integer', minimum: 1, maximum: 10000 },
            maxBlockDelay: duration,
            streamMaxBytes: { type: 'integer', minimum: 65536 },
          },
        },
      },
    },
  },
} as const;
