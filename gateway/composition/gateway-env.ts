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
  /**
   * The one timer source on the wall clock (gateway/timers.ts): identity, trust housekeeping, session expiry,
   * handshake deadlines, the audit log's periodic work and event times, the SIEM exporter, the audit throttle.
   */
  readonly timers: Timers;
  /**
   * The same seam on the monotonic clock, for deadlines and latencies that must not jump with NTP: device pools
   * (request deadlines, late-reply grace, reconnect waits) and PROFINET clients. Fake timers replace both in tests.
   */
  readonly deadlines: Timers;
  readonly metrics: GatewayMetrics;
}
