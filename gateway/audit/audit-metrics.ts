/**
 * Prometheus metrics of the audit log (the "alarm" half of the failure response, IEC 62443-3-3 SR 2.10).
 * Only created when a registry is injected, so tests and the CLI stay metric-free.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface AuditMetrics {
  readonly events: Counter;
  readonly writeFailures: Counter;
  readonly lostEvents: Counter;
  readonly checkpoints: Counter;
  readonly checkpointFailures: Counter;
  readonly healthy: Gauge;
  readonly held: Gauge<'by'>;
  readonly diskFreeBytes: Gauge;
  readonly usedBytes: Gauge;
  readonly capacityBytes: Gauge;
}

export function createAuditMetrics(registry: Registry): AuditMetrics {
  const registers = [registry];
  return {
    events: new Counter({ name: 'verigate_audit_events_total', help: 'Audit events written', registers }),
    writeFailures: new Counter({
      name: 'verigate_audit_write_failures_total',
      help: 'Audit appends that failed',
      registers,
    }),
    lostEvents: new Counter({
      name: 'verigate_audit_lost_events_total',
      help: 'Audit events not written while the log was failing',
      registers,
    }),
    checkpoints: new Counter({
      name: 'verigate_audit_checkpoints_total',
      help: 'Signed checkpoints written',
      registers,
    }),
    checkpointFailures: new Counter({
      name: 'verigate_audit_checkpoint_failures_total',
      help: 'Checkpoints that could not be signed or written',
      registers,
    }),
    healthy: new Gauge({
      name: 'verigate_audit_healthy',
      help: '1 when audit writes succeed and no exporter holds the log failing',
      registers,
    }),
    held: new Gauge({
      name: 'verigate_audit_held',
      help: '1 while the named exporter holds the audit log failing (e.g. fleet-audit: the edge stream is full)',
      labelNames: ['by'],
      registers,
    }),
    diskFreeBytes: new Gauge({
      name: 'verigate_audit_disk_free_bytes',
      help: 'Free bytes on the audit filesystem',
      registers,
    }),
    usedBytes: new Gauge({
      name: 'verigate_audit_used_bytes',
      help: 'Bytes of audit segment files (against audit.capacityBytes)',
      registers,
    }),
    capacityBytes: new Gauge({
      name: 'verigate_audit_capacity_bytes',
      help: 'audit.capacityBytes (0 = no budget)',
      registers,
    }),
  };
}

/** Metrics of the rate bound on events of peers without rights (audit-throttle.ts) [IEC 62443-3-3 SR 2.9]. */
export interface ThrottleMetrics {
  readonly suppressed: Counter<'class'>;
  readonly summaries: Counter;
}

export function createThrottleMetrics(registry: Registry): ThrottleMetrics {
  const registers = [registry];
  return {
    suppressed: new Counter({
      name: 'verigate_audit_suppressed_events_total',
      help: 'Rate-bounded audit events counted in an audit.suppressed summary instead of written one by one',
      labelNames: ['class'],
      registers,
    }),
    summaries: new Counter({
      name: 'verigate_audit_summaries_total',
      help: 'audit.suppressed summary events written',
      registers,
    }),
  };
}

/** Identities disconnected and held off for a denial flood (denial-flood-guard.ts). */
export function createFloodMetric(registry: Registry): Counter {
  return new Counter({
    name: 'verigate_denial_flood_holdoffs_total',
    help: 'Identities disconnected and held off for a denial flood',
    registers: [registry],
  });
}
