/**
 * gateway.yaml: load (schema + file:line errors via load-yaml), apply defaults, check what a schema cannot
 * (gateway-config-checks.ts: unique names and unit ids, a bound listener names a known device), then freeze.
 * Paths are resolved against the config file's directory so a lab directory can be moved as a whole. The shape
 * of the result is in gateway-config-types.ts.
 */
import { dirname, resolve } from 'node:path';
import { gatewayConfigSchema } from './gateway-config-schema.js';
import { deepFreeze, loadYamlDocument } from './load-yaml.js';
import { checkSemantics } from './gateway-config-checks.js';
import { tryParseDuration } from './duration.js';
import { deviceLink } from './device-link.js';
import type { DeviceYaml, GatewayYaml } from './gateway-yaml.js';
import type { DeviceConfig, FleetConfig, GatewayConfig, ProfinetDeviceConfig } from './gateway-config-types.js';
import { MAX_SIGNED_AT_AGE_MS } from '../fleet/policy-envelope.js';
export type { DeviceConfig, FleetConfig, GatewayConfig, ProfinetDeviceConfig } from './gateway-config-types.js';

export function loadGatewayConfig(path: string): GatewayConfig {
  const file = resolve(path);
  const doc = loadYamlDocument<GatewayYaml>(file, gatewayConfigSchema, { code: 'GW_ERR_CONFIG_INVALID' });
  const config = buildConfig(doc.value, file);
  checkSemantics(config, doc);
  return deepFreeze(config);
}

function ms(value: string | undefined, fallback: number): number {
  return value === undefined ? fallback : (tryParseDuration(value) ?? fallback);
}

function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
}

function buildConfig(raw: GatewayYaml, file: string): GatewayConfig {
  const base = dirname(file);
  const at = (p: string): string => resolve(base, p);
  return {
    file,
    identity: identityConfig(raw.identity ?? {}, at),
    listeners: listenersConfig(raw.listeners ?? {}),
    devices: raw.devices.map(deviceConfig),
    profinetDevices: (raw.profinetDevices ?? []).map(profinetDeviceConfig),
    policy: {
      file: at(raw.policy.file),
      watch: raw.policy.watch ?? true,
      shadowFile: raw.policy.shadowFile ? at(raw.policy.shadowFile) : null,
    },
    stateDir: at(raw.state?.dir ?? 'state'),
    lockStoreFailure: raw.state?.lockStoreFailure ?? 'fail-closed',
    audit: auditConfig(raw.audit ?? {}, at),
    logLevel: raw.logging?.level ?? 'info',
    fleet: raw.fleet ? fleetConfig(raw.fleet, at) : null,
  };
}

type Yaml<K extends keyof GatewayYaml> = NonNullable<GatewayYaml[K]>;
type AuditYaml = Yaml<'audit'>;

function identityConfig(id: Yaml<'identity'>, at: (p: string) => string): GatewayConfig['identity'] {
  return {
    source: id.source ?? 'workload-api',
    socket: id.socket ?? null,
    startupTimeoutMs: ms(id.startupTimeout, 30_000),
    dev: id.dev
      ? {
          trustDomain: id.dev.trustDomain,
          caDir: at(id.dev.caDir),
          spiffeId: id.dev.spiffeId ?? `spiffe://${id.dev.trustDomain}/verigate`,
          svidTtlMs: ms(id.dev.svidTtl, 86_400_000),
          dnsNames: id.dev.dnsNames ?? ['localhost'],
        }
      : null,
  };
}

function listenersConfig(l: Yaml<'listeners'>): GatewayConfig['listeners'] {
  return {
    mbaps: {
      host: l.mbaps?.host ?? '0.0.0.0',
      port: l.mbaps?.port ?? 802, // Modbus/TCP Security well-known port [MB-TCP-SEC 6]
      device: l.mbaps?.device ?? null,
      handshakeTimeoutMs: ms(l.mbaps?.handshakeTimeout, 10_000),
      sessionResumption: l.mbaps?.sessionResumption ?? false,
      maxInFlightPerSession: l.mbaps?.maxInFlightPerSession ?? 16,
    },
    grpc: l.grpc
      ? {
          host: l.grpc.host ?? '0.0.0.0',
          port: l.grpc.port ?? 8443,
          handshakeTimeoutMs: ms(l.grpc.handshakeTimeout, 10_000),
          sessionResumption: l.grpc.sessionResumption ?? false,
          keepaliveTimeMs: ms(l.grpc.keepalive?.time, 60_000),
          keepaliveTimeoutMs: ms(l.grpc.keepalive?.timeout, 20_000),
        }
      : null,
    metrics: l.metrics ? { host: l.metrics.host ?? '127.0.0.1', port: l.metrics.port ?? 9802 } : null,
    maxPendingHandshakes: l.maxPendingHandshakes ?? 256,
    maxPendingHandshakesPerSource: l.maxPendingHandshakesPerSource ?? 16,
  };
}

function deviceConfig(d: DeviceYaml): DeviceConfig {
  return {
    name: d.name,
    ...deviceLink(d, splitAddress),
    unitId: d.unitId,
    targetUnitId: d.targetUnitId ?? d.unitId,
    maxConnections: d.maxConnections ?? 1,
    maxInFlight: d.maxInFlight ?? 1,
    timeoutMs: ms(d.timeout, 1000),
    queueLimit: d.queueLimit ?? 256,
    tags: Object.fromEntries(
      Object.entries(d.tags ?? {}).map(([k, v]) => [k, { table: v.table, address: v.address, count: v.count ?? 1 }]),
    ),
    learn: d.learn ? { untilMs: Date.parse(d.learn.until), principals: [...d.learn.principals] } : null,
  };
}

function profinetDeviceConfig(d: Yaml<'profinetDevices'>[number]): ProfinetDeviceConfig {
  return {
    name: d.name,
    host: d.host,
    port: d.port ?? 34964, // PNIO-CM well-known port [IEC 61158-6-10]
    timeoutMs: ms(d.timeout, 1000),
    queueLimit: d.queueLimit ?? 64,
    arIdleMs: ms(d.arIdleTimeout, 10_000),
  };
}

function auditConfig(a: AuditYaml, at: (p: string) => string): GatewayConfig['audit'] {
  return {
    dir: at(a.dir ?? 'audit'),
    fsync: a.fsync ?? 'interval',
    segmentBytes: a.segmentBytes ?? 16 * 1024 * 1024,
    values: a.values ?? 'hash',
    failurePolicy: a.failurePolicy ?? 'fail-closed',
    minFreeBytes: a.minFreeBytes ?? 256 * 1024 * 1024,
    capacityBytes: a.capacityBytes ?? 1024 * 1024 * 1024,
    capacityWarnPercent: a.capacityWarnPercent ?? 80,
    reserveBytes: a.reserveBytes ?? 64 * 1024 * 1024,
    throttle: throttleConfig(a.throttle ?? {}),
    denialFlood: denialFloodConfig(a.denialFlood ?? {}),
    checkpoint: { everyEvents: a.checkpoint?.everyEvents ?? 1000, everyMs: ms(a.checkpoint?.every, 60_000) },
    syslog: a.syslog ? syslogConfig(a.syslog, at) : null,
  };
}

function throttleConfig(t: NonNullable<AuditYaml['throttle']>): GatewayConfig['audit']['throttle'] {
  return {
    intervalMs: ms(t.interval, 60_000),
    perKey: t.perKey ?? 5,
    perClass: t.perClass ?? 20,
    maxEventBytes: t.maxEventBytes ?? 1536,
    maxKeys: t.maxKeys ?? 1024,
    summaryEntries: t.summaryEntries ?? 32,
  };
}

function denialFloodConfig(f: NonNullable<AuditYaml['denialFlood']>): GatewayConfig['audit']['denialFlood'] {
  return {
    denials: f.denials ?? 300,
    withinMs: ms(f.within, 10_000),
    holdOffMs: ms(f.holdOff, 60_000),
    maxHoldOffMs: ms(f.maxHoldOff, 15 * 60_000),
  };
}

function syslogConfig(
  s: NonNullable<AuditYaml['syslog']>,
  at: (p: string) => string,
): NonNullable<GatewayConfig['audit']['syslog']> {
  return {
    ...splitAddress(s.address),
    format: s.format ?? 'rfc5424',
    caFile: s.caFile ? at(s.caFile) : null,
    spoolDir: at(s.spoolDir ?? 'syslog-spool'),
    spoolMaxBytes: s.spoolMaxBytes ?? 64 * 1024 * 1024,
  };
}

function fleetConfig(f: NonNullable<GatewayYaml['fleet']>, at: (p: string) => string): FleetConfig {
  return {
    site: f.site,
    name: f.name,
    leaf: { url: f.leaf?.url ?? 'tls://127.0.0.1:4222', caFile: f.leaf?.caFile ? at(f.leaf.caFile) : null },
    policySigners: [...(f.policySigners ?? [])],
    maxStalenessMs: ms(f.maxStaleness, 60_000),
    statusEveryMs: ms(f.statusEvery, 2_000),
    policyMaxAgeMs: ms(f.policyMaxAge, MAX_SIGNED_AT_AGE_MS),
    audit: {
      maxBlockEvents: f.audit?.maxBlockEvents ?? 256,
      maxBlockDelayMs: ms(f.audit?.maxBlockDelay, 200),
      streamMaxBytes: f.audit?.streamMaxBytes ?? 1024 * 1024 * 1024,
    },
  };
}
