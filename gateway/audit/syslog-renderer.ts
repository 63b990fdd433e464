/**
 * The text of each record the SIEM exporter (syslog-exporter.ts) spools and sends: an audit event, a checkpoint
 * or a loss notice as an RFC 5424 message, or as CEF inside one (`format: 'cef'`), under this gateway's header.
 * Kept apart from the delivery (spool, connection, acknowledgement), which does not care what a record says.
 */
import { hostname as osHostname } from 'node:os';
import type { Checkpoint } from './audit-checkpoint.js';
import { SIEM_EXPORT_LOSS_TYPE, type AuditRecord } from './audit-events.js';
import { cefForCheckpoint, cefForEvent, cefLine } from './cef-format.js';
import type { SpoolDrop } from './syslog-spool-loss.js';
import {
  rfc5424ForCheckpoint,
  rfc5424ForEvent,
  rfc5424ForLoss,
  severityOf,
  Severity,
  syslogMessage,
  type SyslogHeader,
} from './syslog-format.js';

export interface SyslogRendererOptions {
  readonly format?: 'rfc5424' | 'cef';
  readonly hostname?: string;
  readonly facility?: number;
  readonly enterpriseId?: string;
  /** Product version in CEF headers. */
  readonly version?: string;
}

export class SyslogRenderer {
  private readonly header: SyslogHeader;

  constructor(private readonly opts: SyslogRendererOptions) {
    this.header = {
      hostname: opts.hostname ?? osHostname(),
      appName: 'verigate',
      procId: String(process.pid),
      facility: opts.facility ?? 13,
      enterpriseId: opts.enterpriseId ?? '32473',
    };
  }

  event(rec: AuditRecord): string {
    if (this.opts.format !== 'cef') return rfc5424ForEvent(this.header, rec);
    const severity = severityOf(rec.type, rec);
    return this.cef(rec.time, cefForEvent(this.version(), rec, severity), rec.type, severity);
  }

  checkpoint(cp: Checkpoint): string {
    return this.opts.format === 'cef'
      ? this.cef(cp.time, cefForCheckpoint(this.version(), cp), 'audit.checkpoint', Severity.notice)
      : rfc5424ForCheckpoint(this.header, cp);
  }

  /** The notice of records the spool dropped, stamped `nowMs` (wall-clock epoch ms). */
  loss(loss: SpoolDrop, nowMs: number): string {
    const time = new Date(nowMs).toISOString();
    if (this.opts.format !== 'cef') return rfc5424ForLoss(this.header, { time, ...loss });
    const ext = {
      rt: Date.parse(time),
      cnt: loss.dropped,
      cn1Label: 'firstSeq',
      cn1: loss.firstSeq ?? undefined,
      cn2Label: 'lastSeq',
      cn2: loss.lastSeq ?? undefined,
    };
    return this.cef(
      time,
      cefLine(this.version(), SIEM_EXPORT_LOSS_TYPE, Severity.error, ext),
      SIEM_EXPORT_LOSS_TYPE,
      Severity.error,
    );
  }

  private version(): string {
    return this.opts.version ?? '0.1.0';
  }

  private cef(time: string, line: string, msgId: string, severity: number): string {
    return syslogMessage(this.header, { time, msgId, severity, sd: '-', msg: line });
  }
}
