/** Metrics of the fleet audit block publisher (audit-block-publisher.ts); docs/fleet.md lists them. */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface PublisherMetrics {
  readonly blocks: Counter;
  readonly failures: Counter<'reason'>;
  readonly publishedSeq: Gauge;
  readonly streamFull: Gauge;
}

export function createPublisherMetrics(registry: Registry, backlog: () => number): PublisherMetrics {
  const registers = [registry];
  new Gauge({
    name: 'verigate_fleet_audit_backlog_events',
    help: 'Audit events in the local file not yet stored in the edge AUDIT stream',
    registers,
    collect() {
      this.set(backlog());
    },
  });
  return {
    blocks: new Counter({
      name: 'verigate_fleet_audit_blocks_total',
      help: 'Audit event blocks stored in the edge AUDIT stream',
      registers,
    }),
    failures: new Counter({
      name: 'verigate_fleet_audit_publish_failures_total',
      help: 'Failed attempts to publish audit to the edge stream, by reason (full, too-large, publish, files)',
      labelNames: ['reason'],
      registers,
    }),
    publishedSeq: new Gauge({
      name: 'verigate_fleet_audit_published_seq',
      help: 'Last audit event seq stored in the edge AUDIT stream',
      registers,
    }),
    streamFull: new Gauge({
      name: 'verigate_fleet_audit_stream_full',
      help: '1 while the edge AUDIT stream refuses blocks for lack of room (the audit failure policy applies)',
      registers,
    }),
  };
}
