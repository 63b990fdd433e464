/**
 * RFC 5424 syslog messages for audit events and RFC 5425 octet-counting framing (`MSG-LEN SP SYSLOG-MSG`).
 * HEADER: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID`, MSGID = event type [RFC 5424 6.2.7, ≤32 chars];
 * STRUCTURED-DATA `[verigate@32473 seq=".." hash=".." prev=".."]` (32473 is the documentation enterprise
 * number of RFC 5612; deployments may set their own); MSG = the event as JSON, with every non-ASCII character
 * escaped so MSG is plain ASCII and needs no BOM [RFC 5424 6.4].
 */
import type { Checkpoint } from './audit-checkpoint.js';
import { SIEM_CHECKPOINT_TYPE, SIEM_EXPORT_LOSS_TYPE, type AuditRecord } from './audit-events.js';

export interface SyslogHeader {
  readonly hostname: string;
  readonly appName: string;
  readonly procId: string;
  /** RFC 5424 facility; default 13 (log audit). */
  readonly facility: number;
  readonly enterpriseId: string;
}

/** RFC 5424 6.2.1 severities. */
export const Severity = { error: 3, warning: 4, notice: 5, info: 6 } as const;

/** How loud each message is: denials and failures warn, routine allows inform. */
export function severityOf(type: string, rec?: Record<string, unknown>): number {
  switch (type) {
    case 'request.decision':
    case 'record.decision':
      // `learn`: allowed only by commissioning mode (the policy denies it): a notice, never routine
      if (rec?.['decision'] === 'learn') return Severity.notice;
      // `pending`: a write-ahead decision, its request.outcome follows
      return rec?.['decision'] === 'deny'
        ? Severity.warning
        : rec?.['outcome'] === 'ok' || rec?.['outcome'] === 'pending'
          ? Severity.info
          : Severity.notice;
    case 'request.outcome':
      return rec?.['outcome'] === 'ok' ? Severity.info : Severity.notice;
    case 'policy.reload-failed':
    case 'audit.gap':
    case SIEM_EXPORT_LOSS_TYPE:
      return Severity.error;
    case 'handshake.rejected':
    case 'audit.suppressed':
    case 'audit.capacity-warning':
    case 'audit.recovered':
    case 'lock.created':
    case 'trust.changed':
    case 'jit.denied':
    case 'jit.revoked':
      return Severity.warning;
    case 'session.open':
    case 'session.close':
      return Severity.info;
    default:
      return Severity.notice;
  }
}

/** Printable US-ASCII without spaces, bounded [RFC 5424 6 ABNF: PRINTUSASCII]. */
function token(s: string, max: number): string {
  const clean = s.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return clean.length === 0 ? '-' : clean;
}

/** SD-NAME: printable ASCII except '=', SP, ']', '"' [RFC 5424 6.3.2]. */
function sdName(s: string): string {
  return s.replace(/[^\x21-\x7e]|[= \]"]/g, '_').slice(0, 32);
}

/** PARAM-VALUE escaping: '"', '\' and ']' are escaped with '\' [RFC 5424 6.3.3]. */
export function sdValue(s: string): string {
  return s.replace(/["\\\]]/g, (c) => '\\' + c);
}

export function structuredData(id: string, params: Record<string, string | number | undefined>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${sdName(k)}="${sdValue(String(v))}"`);
  return `[${sdName(id)}${parts.length > 0 ? ' ' + parts.join(' ') : ''}]`;
}

/** JSON with all non-ASCII escaped (\uXXXX), so the MSG is ASCII (no BOM needed). */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'),
  );
}

export function syslogMessage(
  h: SyslogHeader,
  o: { time: string; msgId: string; severity: number; sd: string; msg: string },
): string {
  const pri = h.facility * 8 + o.severity;
  return `<${pri}>1 ${o.time} ${token(h.hostname, 255)} ${token(h.appName, 48)} ${token(h.procId, 128)} ${token(o.msgId, 32)} ${o.sd} ${o.msg}`;
}

export function rfc5424ForEvent(h: SyslogHeader, rec: AuditRecord): string {
  const sd = structuredData(`verigate@${h.enterpriseId}`, { seq: rec.seq, hash: rec.hash, prev: rec.prev });
  return syslogMessage(h, {
    time: rec.time,
    msgId: rec.type,
    severity: severityOf(rec.type, rec),
    sd,
    msg: asciiJson(rec),
  });
}

export function rfc5424ForCheckpoint(h: SyslogHeader, cp: Checkpoint): string {
  const sd = structuredData(`verigate@${h.enterpriseId}`, {
    seq: cp.seq,
    headHash: cp.headHash,
    signer: cp.signer.spiffeId,
  });
  return syslogMessage(h, {
    time: cp.time,
    msgId: SIEM_CHECKPOINT_TYPE,
    severity: Severity.notice,
    sd,
    msg: asciiJson(cp),
  });
}

export function rfc5424ForLoss(
  h: SyslogHeader,
  loss: { time: string; dropped: number; firstSeq: number | null; lastSeq: number | null },
): string {
  const sd = structuredData(`verigate@${h.enterpriseId}`, {
    dropped: loss.dropped,
    firstSeq: loss.firstSeq ?? undefined,
    lastSeq: loss.lastSeq ?? undefined,
  });
  return syslogMessage(h, {
    time: loss.time,
    msgId: SIEM_EXPORT_LOSS_TYPE,
    severity: Severity.error,
    sd,
    msg: asciiJson({ type: SIEM_EXPORT_LOSS_TYPE, ...loss }),
  });
}

/** RFC 5425 4.3 octet-counting: the length counts the octets of SYSLOG-MSG. */
export function frameOctetCounted(msg: string): Buffer {
  const body = Buffer.from(msg, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}
