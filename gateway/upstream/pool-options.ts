/**
 * Startup checks of a device's upstream settings: programmer/config errors throw
 * [docs/architecture.md "Errors and outcomes"].
 */
import { backoffProblem } from '../backoff.js';
import { GatewayError } from '../errors.js';
import type { DevicePoolOptions } from './types.js';

/** [MB-TCP]: 1–16 outstanding transactions per connection is what the guide allows. */
const MAX_IN_FLIGHT = 16;

export function validatePoolOptions(o: DevicePoolOptions): void {
  const problems: string[] = [];
  const int = (name: string, v: number | undefined, min: number, max: number): void => {
    if (v !== undefined && (!Number.isInteger(v) || v < min || v > max))
      problems.push(`${name} must be an integer in ${min}..${max}, got ${v}`);
  };
  if (o.transport === undefined) {
    int('port', o.port, 1, 65535);
    if (o.port === undefined) problems.push('port is missing (no transport given)');
  }
  int('maxConnections', o.maxConnections, 1, 64);
  int('maxInFlight', o.maxInFlight, 1, MAX_IN_FLIGHT);
  int('timeoutMs', o.timeoutMs, 1, 3_600_000);
  int('queueLimit', o.queueLimit, 1, 1_000_000);
  int('connectTimeoutMs', o.connectTimeoutMs, 1, 3_600_000);
  int('lateReplyGraceMs', o.lateReplyGraceMs, 0, 3_600_000);
  const backoff = o.backoff === undefined ? null : backoffProblem(o.backoff);
  if (backoff !== null) problems.push(backoff);
  if (o.transport === undefined && (o.host === undefined || o.host === '')) problems.push('host is empty');
  if (problems.length > 0) {
    throw new GatewayError('GW_ERR_UPSTREAM_CONFIG', `upstream: device ${o.name}: ${problems.join('; ')}`);
  }
}
