/**
 * What every component of the composition root may use: the validated config and the process-wide services
 * (logger, clock, metrics registry). One object, so a component factory takes it plus only the components it
 * depends on.
 */
import type { Logger } from 'pino';
import type { GatewayConfig } from '../config/gateway-config.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { Timers } from '../timers.js';

export interface GatewayEnv {
  readonly config: GatewayConfig;
  readonly logger: Logger;
  /** Wall-clock epoch ms (grants, locks, audit records). */
  readonly now: () => number;
  /** The one timer source (gateway/timers.ts): identity, trust housekeeping, session expiry, handshake deadlines. */
  readonly timers: Timers;
  readonly metrics: GatewayMetrics;
}
