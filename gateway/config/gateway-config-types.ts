/**
 * The gateway's configuration as the rest of the gateway reads it: gateway.yaml after defaults, resolved paths and
 * the semantic checks (gateway-config.ts builds it, then freezes it).
 */
import type { Table } from '../../protocols/modbus/types.js';
import type { DeviceLink } from './device-link.js';

export interface DeviceConfig {
  readonly name: string;
  /** Modbus TCP (and rtuOverTcp): the address dialled. A serial device: '' and 0. */
  readonly host: string;
  readonly port: number;
  /** Modbus TCP (also when absent), a serial RTU line, or RTU over TCP to a device server; devices on one line share it. */
  readonly link?: DeviceLink;
  readonly unitId: number;
  readonly targetUnitId: number;
  readonly maxConnections: number;
  readonly maxInFlight: number;
  readonly timeoutMs: number;
  readonly queueLimit: number;
  readonly tags: Readonly<Record<string, { table: Table; address: number; count: number }>>;
  /** Commissioning mode: listed identities' learnable denials are allowed until `untilMs` (gateway/evidence/learn-mode.ts). */
  readonly learn?: { readonly untilMs: number; readonly principals: readonly string[] } | null;
}

/**
 * A PROFINET IO device behind the gateway (`profinetDevices:`): reached by PNIO-CM record services over UDP
 * [IEC 61158-6-10]; the upstream client is gateway/upstream/profinet-client.ts.
 */
export interface ProfinetDeviceConfig {
  readonly name: string;
  /** IP address literal: answers are matched by address, so no host name. */
  readonly host: string;
  /** PNIO-CM UDP port (34964). */
  readonly port: number;
  /** Per attempt: how long one request waits for its answer. */
  readonly timeoutMs: number;
  /** Bound on requests waiting for the device (one runs at a time). */
  readonly queueLimit: number;
  /** The gateway's device-access AR is released after this long without a write. */
  readonly arIdleMs: number;
}

export interface ListenerConfig {
  readonly host: string;
  readonly port: number;
}

export interface GatewayConfig {
  readonly file: string;
  readonly identity: {
    readonly source: 'workload-api' | 'dev';
    readonly socket: string | null;
    readonly startupTimeoutMs: number;
    readonly dev: {
      trustDomain: string;
      caDir: string;
      spiffeId: string;
      svidTtlMs: number;
      dnsNames: readonly string[];
    } | null;
  };
  readonly listeners: {
    readonly mbaps: ListenerConfig & {
      device: string | null;
      handshakeTimeoutMs: number;
      /** TLS session resumption (default off: every connection verifies its chain; identity/tls-options.ts). */
      sessionResumption: boolean;
      maxInFlightPerSession: number;
    };
    readonly grpc:
      | (ListenerConfig & {
          handshakeTimeoutMs: number;
          sessionResumption: boolean;
          /** HTTP/2 PING after this long (each connection), and how long its ACK may take before the session ends. */
          keepaliveTimeMs: number;
          keepaliveTimeoutMs: number;
        })
      | null;
    readonly metrics: ListenerConfig | null;
    /** Pending (not yet completed) TLS handshakes over both TLS listeners, and per source address. */
    readonly maxPendingHandshakes: number;
    readonly maxPendingHandshakesPerSource: number;
  };
  readonly devices: readonly DeviceConfig[];
  /** PROFINET IO devices (record services over the gRPC `Profinet` service); names unique across both lists. */
  readonly profinetDevices: readonly ProfinetDeviceConfig[];
  readonly policy: { readonly file: string; readonly watch: boolean; readonly shadowFile: string | null };
  readonly stateDir: string;
  readonly lockStoreFailure: 'fail-closed' | 'best-effort';
  readonly audit: {
    readonly dir: string;
    readonly fsync: 'always' | 'interval' | 'never';
    readonly segmentBytes: number;
    readonly values: 'include' | 'hash';
    readonly failurePolicy: 'fail-closed' | 'continue';
    readonly minFreeBytes: number;
    readonly capacityBytes: number;
    readonly capacityWarnPercent: number;
    readonly reserveBytes: number;
    readonly throttle: {
      intervalMs: number;
      perKey: number;
      perClass: number;
      maxEventBytes: number;
      maxKeys: number;
      summaryEntries: number;
    };
    readonly denialFlood: { denials: number; withinMs: number; holdOffMs: number; maxHoldOffMs: number };
    readonly checkpoint: { everyEvents: number; everyMs: number };
    readonly syslog: {
      host: string;
      port: number;
      format: 'rfc5424' | 'cef';
      caFile: string | null;
      spoolDir: string;
      spoolMaxBytes: number;
    } | null;
  };
  readonly logLevel: string;
  /** Fleet membership (docs/fleet.md); null: a standalone gateway. */
  readonly fleet: FleetConfig | null;
}

/** gateway.yaml `fleet:`: this gateway's place in the fleet and its link to the site's leaf node. */
export interface FleetConfig {
  readonly site: string;
  readonly name: string;
  /** The local leaf node (`tls://127.0.0.1:4222`); its server certificate is checked against `caFile`, or our SPIFFE bundle. */
  readonly leaf: { readonly url: string; readonly caFile: string | null };
  /** SPIFFE IDs whose signed policy envelopes this gateway applies. */
  readonly policySigners: readonly string[];
  /** Default staleness bound of rules with `lockMode: strict`. */
  readonly maxStalenessMs: number;
  readonly statusEveryMs: number;
  /** How long ago a new policy envelope may have been signed (default 24 h): `signed-too-long-ago` beyond. */
  readonly policyMaxAgeMs: number;
  readonly audit: {
    readonly maxBlockEvents: number;
    readonly maxBlockDelayMs: number;
    readonly streamMaxBytes: number;
  };
}
