/**
 * Defaults and startup checks of one PROFINET device's upstream settings. Config errors throw
 * GatewayError (GW_ERR_UPSTREAM_CONFIG) (the error table in gateway/errors.ts); nothing here runs on the hot path.
 */
import { isIP } from 'node:net';
import { randomUUID } from 'node:crypto';
import {
  DEFAULT_MAX_FRAGMENT_BODY,
  pnioObjectUuid,
  PNIO_CM_UDP_PORT,
  isUuid,
  type Uuid,
} from '../../protocols/profinet/index.js';
import { GatewayError } from '../errors.js';
import { nullLogger, type Logger } from '../logger.js';
import { monotonicTimers } from '../timers.js';
import type { ProfinetDeviceOptions, ProfinetMetrics, ProfinetTimers } from './profinet-types.js';

export interface ResolvedProfinetOptions {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly family: 'udp4' | 'udp6';
  readonly objectUuid: Uuid;
  readonly timeoutMs: number;
  readonly queueLimit: number;
  readonly queueTimeoutMs: number;
  readonly arIdleMs: number;
  readonly arActivityTimeoutFactor: number;
  readonly stationName: string;
  readonly initiatorMac: string;
  readonly initiatorObjectUuid: Uuid;
  readonly littleEndian: boolean;
  readonly localAddress: string | undefined;
  readonly maxFragmentBody: number;
  readonly maxRawBytes: number;
  readonly maxAnswerFragments: number;
  readonly maxAnswerBytes: number;
  readonly logger: Logger;
  readonly timers: ProfinetTimers;
  readonly metrics: ProfinetMetrics;
  readonly randomUuid: () => Uuid;
}

export function resolveProfinetOptions(o: ProfinetDeviceOptions): ResolvedProfinetOptions {
  const r: ResolvedProfinetOptions = {
    name: o.name,
    host: o.host,
    port: o.port ?? PNIO_CM_UDP_PORT,
    family: isIP(o.host) === 6 ? 'udp6' : 'udp4',
    objectUuid: o.objectUuid ?? pnioObjectUuid(0, 0, 1),
    timeoutMs: o.timeoutMs ?? 1000,
    queueLimit: o.queueLimit ?? 64,
    queueTimeoutMs: o.queueTimeoutMs ?? 10_000,
    arIdleMs: o.arIdleMs ?? 10_000,
    arActivityTimeoutFactor: o.arActivityTimeoutFactor ?? 300,
    stationName: o.stationName ?? 'verigate',
    initiatorMac: o.initiatorMac ?? '02:00:00:00:00:01',
    // The gateway's own CMInitiatorObjectUUID: PNIO form, vendor/device 0 (not a real product).
    initiatorObjectUuid: o.initiatorObjectUuid ?? pnioObjectUuid(0, 0, 1),
    littleEndian: o.littleEndian ?? false,
    localAddress: o.localAddress,
    maxFragmentBody: o.maxFragmentBody ?? DEFAULT_MAX_FRAGMENT_BODY,
    maxRawBytes: o.maxRawBytes ?? 1500,
    maxAnswerFragments: o.maxAnswerFragments ?? 64,
    maxAnswerBytes: o.maxAnswerBytes ?? 128 * 1024,
    logger: o.logger ?? nullLogger,
    // real timers on the monotonic clock (gateway/timers.ts): call timeouts and idle release measure elapsed time
    timers: o.timers ?? monotonicTimers,
    metrics: o.metrics ?? {},
    randomUuid: o.randomUuid ?? randomUUID,
  };
  validate(r);
  return r;
}

function validate(o: ResolvedProfinetOptions): void {
  const problems: string[] = [];
  const int = (name: string, v: number, min: number, max: number): void => {
    if (!Number.isInteger(v) || v < min || v > max)
      problems.push(`${name} must be an integer in ${min}..${max}, got ${v}`);
  };
  if (isIP(o.host) === 0) problems.push(`host must be an IP address (answers are matched by address), got "${o.host}"`);
  int('port', o.port, 1, 65535);
  int('timeoutMs', o.timeoutMs, 1, 600_000);
  int('queueLimit', o.queueLimit, 1, 100_000);
  int('queueTimeoutMs', o.queueTimeoutMs, 1, 3_600_000);
  int('arIdleMs', o.arIdleMs, 1, 3_600_000);
  // [IEC 61158-6-10 CMInitiatorActivityTimeoutFactor] 1..1000 (× 100 ms).
  int('arActivityTimeoutFactor', o.arActivityTimeoutFactor, 1, 1000);
  int('maxFragmentBody', o.maxFragmentBody, 64, 65_000);
  int('maxRawBytes', o.maxRawBytes, 0, 65_536);
  int('maxAnswerFragments', o.maxAnswerFragments, 1, 1024);
  int('maxAnswerBytes', o.maxAnswerBytes, 1024, 16 * 1024 * 1024);
  // The gateway releases its AR before the device would time it out; otherwise the next write meets
  // "unknown AR" after every quiet spell.
  if (o.arActivityTimeoutFactor * 100 <= o.arIdleMs + o.timeoutMs) {
    problems.push(
      `arActivityTimeoutFactor × 100 ms (${o.arActivityTimeoutFactor * 100}) must exceed arIdleMs + timeoutMs (${o.arIdleMs + o.timeoutMs})`,
    );
  }
  const name = Buffer.byteLength(o.stationName, 'latin1');
  if (name < 1 || name > 240) problems.push(`stationName must be 1..240 bytes, got ${name}`);
  if (!/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(o.initiatorMac))
    problems.push(`initiatorMac must look like 02:00:00:00:00:01, got ${o.initiatorMac}`);
  if (!isUuid(o.objectUuid)) problems.push(`objectUuid is not a lowercase UUID: ${o.objectUuid}`);
  if (!isUuid(o.initiatorObjectUuid))
    problems.push(`initiatorObjectUuid is not a lowercase UUID: ${o.initiatorObjectUuid}`);
  if (problems.length > 0)
    throw new GatewayError('GW_ERR_UPSTREAM_CONFIG', `upstream: PROFINET device ${o.name}: ${problems.join('; ')}`);
}
