/**
 * What gateway.yaml's schema cannot say, checked on the built config: unique device names across protocols,
 * unique unit ids unless the listener is bound to one device, a learn window that ends, PROFINET hosts (one
 * name per device address) and AR timeouts, listener and audit bounds that fit together. Every problem is collected with its file:line:col from
 * the YAML document, then thrown at once (GW_ERR_CONFIG_INVALID).
 */
import { isIP } from 'node:net';
import { configError, type ConfigErrorDetail, type YamlDocument } from './load-yaml.js';
import { lineProblems } from './device-link.js';
import type { FleetConfig, GatewayConfig, ProfinetDeviceConfig } from './gateway-config-types.js';
import type { GatewayYaml } from './gateway-yaml.js';

/** arIdleTimeout + timeout bound: the AR activity timeout factor (×100 ms) is at most 1000 [IEC 61158-6-10]. */
export const MAX_AR_IDLE_PLUS_TIMEOUT_MS = 99_000;

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
export function checkSemantics(c: GatewayConfig, doc: ConfigDoc): void {
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
  const addresses = new Map<string, string>();
  devices.forEach((d, i) => {
    const problem = (key: string, message: string): void => {
      problems.push(doc.problemAt(['profinetDevices', i, key], message));
    };
    if (names.has(d.name)) problem('name', `device name "${d.name}" is used twice`);
    names.set(d.name, i);
    // Answers are accepted from this address only: a name would resolve to something we cannot match.
    if (isIP(d.host) === 0) problem('host', `"${d.host}" is not an IP address`);
    // One device, one name: two names would be two queues and two ARs ("one request in flight per device"
    // and an `ars.max: 1` device both break) and two policies for the same records.
    const at = `${canonicalIp(d.host)}:${d.port}`;
    const first = addresses.get(at);
    if (first !== undefined) problem('host', `${d.host}:${d.port} is device "${first}" already (one name per device)`);
    else addresses.set(at, d.name);
    if (d.timeoutMs <= 0) problem('timeout', 'timeout must be longer than 0');
    if (d.arIdleMs <= 0) problem('arIdleTimeout', 'arIdleTimeout must be longer than 0');
    // The AR's activity timeout announced to the device (at most 100 s [IEC 61158-6-10]) must outlast it.
    if (d.arIdleMs + d.timeoutMs > MAX_AR_IDLE_PLUS_TIMEOUT_MS)
      problem('arIdleTimeout', `arIdleTimeout + timeout must not exceed ${MAX_AR_IDLE_PLUS_TIMEOUT_MS / 1000}s`);
  });
  return problems;
}

/**
 * One spelling per address: IPv6 compressed and lower-case, an IPv4-mapped IPv6 address (`::ffff:10.0.0.5`)
 * as its IPv4 address. Anything URL cannot parse (a zone id) stays as written, lower-cased.
 */
function canonicalIp(host: string): string {
  if (isIP(host) !== 6) return host;
  let v6: string;
  try {
    v6 = new URL(`http://[${host}]/`).hostname.slice(1, -1);
  } catch {
    return host.toLowerCase();
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6);
  if (mapped === null) return v6;
  const hi = parseInt(mapped[1] as string, 16);
  const lo = parseInt(mapped[2] as string, 16);
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
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
  if (l.grpc) problems.push(...keepaliveProblems(l.grpc, doc));
  return problems;
}

/**
 * gRPC keepalive: at least a second between PINGs (each one costs every connection a frame and a wake-up), at most
 * a day (grpc-js reads 2^31-1 ms or more as "no keepalive", and Node fires a longer timer at once), and an ACK
 * deadline that is positive and shorter than the interval, so a dead peer is found within time + timeout.
 */
function keepaliveProblems(g: { keepaliveTimeMs: number; keepaliveTimeoutMs: number }, doc: ConfigDoc) {
  const problems: ConfigErrorDetail[] = [];
  const at = (key: string, message: string) => doc.problemAt(['listeners', 'grpc', 'keepalive', key], message);
  const { keepaliveTimeMs: time, keepaliveTimeoutMs: timeout } = g;
  if (time < 1000 || time > 86_400_000)
    problems.push(at('time', 'listeners.grpc.keepalive.time must be between 1s and 24h'));
  if (timeout <= 0 || timeout >= time)
    problems.push(
      at('timeout', 'listeners.grpc.keepalive.timeout must be longer than 0 and shorter than keepalive.time'),
    );
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
  for (const key of ['statusEvery', 'maxStaleness', 'policyMaxAge', 'audit.maxBlockDelay'] as const) {
    const value = {
      statusEvery: f.statusEveryMs,
      maxStaleness: f.maxStalenessMs,
      policyMaxAge: f.policyMaxAgeMs,
      'audit.maxBlockDelay': f.audit.maxBlockDelayMs,
    }[key];
    if (value <= 0) problems.push(doc.problemAt(['fleet', ...key.split('.')], `fleet.${key} must be longer than 0`));
  }
  return problems;
}
