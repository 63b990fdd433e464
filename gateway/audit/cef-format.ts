/**
 * ArcSight CEF: `CEF:0|Vendor|Product|Version|SignatureID|Name|Severity|Extension`, sent as the MSG of an
 * RFC 5424 message. Escaping per the CEF spec (Micro Focus "Implementing ArcSight CEF" rev 25):
 * header fields escape `\` and `|`; extension values escape `\`, `=`, and CR/LF as `\r`/`\n`;
 * extension keys are alphanumeric. Severity 0–10.
 */
import type { Checkpoint } from './audit-checkpoint.js';
import { SIEM_CHECKPOINT_TYPE, type AuditRecord } from './audit-events.js';
import { asciiJson, Severity } from './syslog-format.js';

const NAMES: Record<string, string> = {
  'audit.started': 'Audit log started',
  'audit.recovered': 'Audit log torn tail recovered',
  'audit.gap': 'Audit events lost while writes failed',
  'session.open': 'Session opened',
  'session.close': 'Session closed',
  'handshake.rejected': 'TLS handshake rejected',
  'request.decision': 'Modbus request decision',
  'request.outcome': 'Request outcome',
  'record.decision': 'PROFINET record decision',
  'jit.requested': 'JIT grant requested',
  'jit.approved': 'JIT grant approved',
  'jit.denied': 'JIT grant denied',
  'jit.revoked': 'JIT grant revoked',
  'jit.expired': 'JIT grant expired',
  'lock.created': 'Lock created',
  'lock.removed': 'Lock removed',
  'trust.changed': 'Trust score changed',
  'policy.reloaded': 'Policy reloaded',
  'policy.reload-failed': 'Policy reload failed',
  [SIEM_CHECKPOINT_TYPE]: 'Audit checkpoint',
  'audit.export-loss': 'Audit export spool overflow',
};

export function cefHeaderEscape(s: string): string {
  return s.replace(/[\\|]/g, (c) => '\\' + c).replace(/\r?\n|\r/g, ' ');
}

export function cefValueEscape(s: string): string {
  return s
    .replace(/[\\=]/g, (c) => '\\' + c)
    .replace(/\r\n|\n/g, '\\n')
    .replace(/\r/g, '\\r');
}

function cefKey(k: string): string {
  return k.replace(/[^A-Za-z0-9]/g, '');
}

/** syslog severity (0 emerg … 7 debug) → CEF 0–10. */
function cefSeverity(syslogSeverity: number): number {
  if (syslogSeverity <= Severity.error) return 8;
  if (syslogSeverity === Severity.warning) return 6;
  if (syslogSeverity === Severity.notice) return 4;
  return 2;
}

export function cefLine(
  version: string,
  type: string,
  syslogSeverity: number,
  ext: Record<string, string | number | undefined>,
): string {
  const name = NAMES[type] ?? type;
  const head = ['CEF:0', 'verigate', 'verigate', version, type, name, String(cefSeverity(syslogSeverity))].map(
    (f, i) => (i === 0 ? f : cefHeaderEscape(f)),
  );
  const pairs = Object.entries(ext)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${cefKey(k)}=${cefValueEscape(String(v))}`);
  return head.join('|') + '|' + pairs.join(' ');
}

/** Standard CEF keys where they fit; the whole event rides in cs6 so nothing is lost. */
export function cefForEvent(version: string, rec: AuditRecord, syslogSeverity: number): string {
  const s = (k: string) => (typeof rec[k] === 'string' ? rec[k] : undefined);
  const n = (k: string) => (typeof rec[k] === 'number' ? rec[k] : undefined);
  return cefLine(version, rec.type, syslogSeverity, {
    rt: Date.parse(rec.time),
    externalId: rec.seq,
    suser: s('identity') ?? s('requester') ?? s('by'),
    spriv: s('role'),
    src: s('peer'),
    dvchost: s('device'),
    act: s('decision'),
    outcome: s('outcome'),
    reason: s('reason') ?? s('error'),
    cs1Label: s('ruleId') !== undefined ? 'ruleId' : undefined,
    cs1: s('ruleId'),
    cs2Label: 'hash',
    cs2: rec.hash,
    cs3Label: s('policyVersion') !== undefined ? 'policyVersion' : undefined,
    cs3: s('policyVersion'),
    cn1Label: n('fc') !== undefined ? 'fc' : undefined,
    cn1: n('fc'),
    cn2Label: n('latencyMs') !== undefined ? 'latencyMs' : undefined,
    cn2: n('latencyMs'),
    cs6Label: 'event',
    cs6: asciiJson(rec),
  });
}

export function cefForCheckpoint(version: string, cp: Checkpoint): string {
  return cefLine(version, SIEM_CHECKPOINT_TYPE, Severity.notice, {
    rt: Date.parse(cp.time),
    externalId: cp.seq,
    suser: cp.signer.spiffeId,
    cs2Label: 'headHash',
    cs2: cp.headHash,
    cs6Label: 'checkpoint',
    cs6: asciiJson(cp),
  });
}
