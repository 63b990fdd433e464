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
  readonly diskFreeBytes: Gauge;
}

export function createAuditMetrics(registry: Registry): AuditMetrics {
  const registers = [registry];
  return {
    events: new Counter({ name: 'verigate_audit_events_total', help: 'Audit events written', registers }),
    writeFailures: new Counter({ name: 'verigate_audit_write_failures_total', help: 'Audit appends that failed', registers }),
    lostEvents: new Counter({ name: 'verigate_audit_lost_events_total', help: 'Audit events not written while the log was failing', registers }),
    checkpoints: new Counter({ name: 'verigate_audit_checkpoints_total', help: 'Signed checkpoints written', registers }),
    checkpointFailures: new Counter({ name: 'verigate_audit_checkpoint_failures_total', help: 'Checkpoints that could not be signed or written', registers }),
    healthy: new Gauge({ name: 'verigate_audit_healthy', help: '1 when audit writes succeed', registers }),
    diskFreeBytes: new Gauge({ name: 'verigate_audit_disk_free_bytes', help: 'Free bytes on the audit filesystem', registers }),
  };
}
