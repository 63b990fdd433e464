/**
 * gateway.yaml: load (schema + file:line errors via load-yaml), apply defaults, check what a schema cannot
 * (unique names and unit ids, a bound listener names a known device), then freeze. Paths are resolved
 * against the config file's directory so a lab directory can be moved as a whole.
 */
import { dirname, resolve } from 'node:path';
import { isIP } from 'node:net';
import { gatewayConfigSchema } from './gateway-config-schema.js';
import { configError, deepFreeze, loadYamlDocument, type ConfigErrorDetail, type YamlDocument } from './load-yaml.js';
import { tryParseDuration } from './duration.js';
import { deviceLink, lineProblems, type DeviceLink } from './device-link.js';
import type { Table } from '../../protocols/modbus/types.js';
import type { DeviceYaml, GatewayYaml } from './gateway-yaml.js';

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
    readonly grpc: (ListenerConfig & { handshakeTimeoutMs: number; sessionResumption: boolean }) | null;
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
  readonly audit: {
    readonly maxBlockEvents: number;
    readonly maxBlockDelayMs: number;
    readonly streamMaxBytes: number;
  };
}

/** arIdleTimeout + timeout bound: the AR activity timeout factor (×100 ms) is at most 1000 [IEC 61158-6-10]. */
export const MAX_AR_IDLE_PLUS_TIMEOUT_MS = 99_000;

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
    audit: {
      maxBlockEvents: f.audit?.maxBlockEvents ?? 256,
      maxBlockDelayMs: ms(f.audit?.maxBlockDelay, 200),
      streamMaxBytes: f.audit?.streamMaxBytes ?? 1024 * 1024 * 1024,
    },
  };
}

/** Commissioning mode must end, and within 30 days of now (the gateway checks again against its own clock). */
function learnProblems(untilMs: number, at: (message: string) => ConfigErrorDetail): ConfigErrorDetail[] {
  if (Number.isNaN(untilMs)) return [at('learn.until must be an ISO 8601 time, e.g. 2026-03-09T06:00:00Z')];
  if (untilMs - Date.now() > 30 * 86_400_000)
    return [
      at(
        `learn.until ${new Date(untilMs).toISOString()} is more than 30 days ahead: commissioning mode must end within 30 days`,
      ),
    ];
  return [];
}

type ConfigDoc = YamlDocument<GatewayYaml>;

/** What the schema cannot say; every problem is collected with its file:line:col, then thrown at once. */
function checkSemantics(c: GatewayConfig, doc: ConfigDoc): void {
  // One namespace for devices: policy rules and audit events name a device without saying its protocol.
  const names = new Map<string, number>();
  const problems = [
    ...modbusDeviceProblems(c, doc, names),
    ...lineProblems(c.devices, doc),
    ...profinetDeviceProblems(c.profinetDevices, doc, names),
    ...listenerProblems(c, doc),
    ...auditProblems(c.audit, doc),
    ...(c.fleet ? fleetProblems(c.fleet, doc) : []),
  ];
  if (c.identity.source === 'dev' && !c.identity.dev) {
    problems.push(doc.problemAt(['identity', 'source'], 'identity.source is "dev" but identity.dev is missing'));
  }
  if (problems.length > 0) throw configError('GW_ERR_CONFIG_INVALID', 'config', `${c.file} is invalid`, problems);
}

/** Unique names; unique unit ids unless the mbaps listener is bound to one device; a learn window that ends. */
function modbusDeviceProblems(c: GatewayConfig, doc: ConfigDoc, names: Map<string, number>): ConfigErrorDetail[] {
  const problems: ConfigErrorDetail[] = [];
  const units = new Map<number, string>();
  c.devices.forEach((d, i) => {
    if (names.has(d.name))
      problems.push(doc.problemAt(['devices', i, 'name'], `device name "${d.name}" is used twice`));
    names.set(d.name, i);
    const other = units.get(d.unitId);
    if (other && !c.listeners.mbaps.device) {
      problems.push(doc.problemAt(['devices', i, 'unitId'], `unitId ${d.unitId} already routes to device "${other}"`));
    }
    units.set(d.unitId, d.name);
    if (d.learn)
      problems.push(...learnProblems(d.learn.untilMs, (m) => doc.problemAt(['devices', i, 'learn', 'until'], m)));
  });
  return problems;
}

function profinetDeviceProblems(
  devices: readonly ProfinetDeviceConfig[],
  doc: ConfigDoc,
  names: Map<string, number>,
): ConfigErrorDetail[] {
  const problems: ConfigErrorDetail[] = [];
  devices.forEach((d, i) => {
    const problem = (key: string, message: string): void => {
      problems.push(doc.problemAt(['profinetDevices', i, key], message));
    };
    if (names.has(d.name)) problem('name', `device name "${d.name}" is used twice`);
    names.set(d.name, i);
    // Answers are accepted from this address only: a name would resolve to something we cannot match.
    if (isIP(d.host) === 0) problem('host', `"${d.host}" is not an IP address`);
    if (d.timeoutMs <= 0) problem('timeout', 'timeout must be longer than 0');
    if (d.arIdleMs <= 0) problem('arIdleTimeout', 'arIdleTimeout must be longer than 0');
    // The AR's activity timeout announced to the device (at most 100 s [IEC 61158-6-10]) must outlast it.
    if (d.arIdleMs + d.timeoutMs > MAX_AR_IDLE_PLUS_TIMEOUT_MS)
      problem('arIdleTimeout', `arIdleTimeout + timeout must not exceed ${MAX_AR_IDLE_PLUS_TIMEOUT_MS / 1000}s`);
  });
  return problems;
}

/** The bound device exists, the per-source handshake bound fits in the total, handshake timeouts are positive. */
function listenerProblems(c: GatewayConfig, doc: ConfigDoc): ConfigErrorDetail[] {
  const problems: ConfigErrorDetail[] = [];
  const l = c.listeners;
  const bound = l.mbaps.device;
  if (bound && !c.devices.some((d) => d.name === bound)) {
    problems.push(doc.problemAt(['listeners', 'mbaps', 'device'], `"${bound}" is not a configured device`));
  }
  if (l.maxPendingHandshakesPerSource > l.maxPendingHandshakes) {
    problems.push(
      doc.problemAt(
        ['listeners', 'maxPendingHandshakesPerSource'],
        `listeners.maxPendingHandshakesPerSource (${l.maxPendingHandshakesPerSource}) must not exceed listeners.maxPendingHandshakes (${l.maxPendingHandshakes})`,
      ),
    );
  }
  for (const [name, timeout] of [
    ['mbaps', l.mbaps.handshakeTimeoutMs],
    ['grpc', l.grpc?.handshakeTimeoutMs ?? 1],
  ] as const) {
    if (timeout <= 0)
      problems.push(
        doc.problemAt(['listeners', name, 'handshakeTimeout'], 'a handshake timeout must be longer than 0'),
      );
  }
  return problems;
}

function auditProblems(a: GatewayConfig['audit'], doc: ConfigDoc): ConfigErrorDetail[] {
  const problems: ConfigErrorDetail[] = [];
  if (a.reserveBytes >= a.capacityBytes) {
    problems.push(
      doc.problemAt(
        ['audit', 'reserveBytes'],
        `audit.reserveBytes (${a.reserveBytes}) must be below audit.capacityBytes (${a.capacityBytes})`,
      ),
    );
  }
  if (a.denialFlood.holdOffMs > a.denialFlood.maxHoldOffMs) {
    problems.push(
      doc.problemAt(['audit', 'denialFlood', 'holdOff'], 'audit.denialFlood.holdOff must not exceed maxHoldOff'),
    );
  }
  return problems;
}

function fleetProblems(f: FleetConfig, doc: ConfigDoc): ConfigErrorDetail[] {
  const problems: ConfigErrorDetail[] = [];
  for (const key of ['statusEvery', 'maxStaleness', 'audit.maxBlockDelay'] as const) {
    const value = {
      statusEvery: f.statusEveryMs,
      maxStaleness: f.maxStalenessMs,
      'audit.maxBlockDelay': f.audit.maxBlockDelayMs,
    }[key];
    if (value <= 0) problems.push(doc.problemAt(['fleet', ...key.split('.')], `fleet.${key} must be longer than 0`));
  }
  return problems;
}
