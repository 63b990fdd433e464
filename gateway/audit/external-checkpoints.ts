/**
 * Checkpoints kept off the box, for `audit verify --checkpoint FILE`: only a copy the gateway host cannot
 * rewrite (the SIEM's) can reveal a trail that was re-chained on the box — rewritten events, recomputed hashes,
 * checkpoints deleted or re-signed with the gateway's own key (for the reason Certificate Transparency has
 * others hold signed tree heads, RFC 9162). The file may hold, line by line:
 * - a checkpoint as JSON (`checkpoints.jsonl` format);
 * - the exported stream as the SIEM stored it: the `audit.checkpoint` messages of syslog-exporter.ts, RFC 5424
 *   (MSG = the checkpoint as JSON; whole lines, or rsyslog's `%msgid% %structured-data% %msg%`, or with an
 *   RFC 5425 length prefix) or CEF (SignatureID `audit.checkpoint`, the checkpoint as JSON in `cs6`).
 * Every other line (events, other messages) is skipped. A line that claims to be a checkpoint but cannot be
 * read is an error: evidence that does not parse must not be silently ignored.
 */
import type { Checkpoint } from './audit-checkpoint.js';
import { SIEM_CHECKPOINT_TYPE } from './audit-events.js';

/** A checkpoint with where it was found (file and 1-based line), so a mismatch names its source. */
export interface ExternalCheckpoint extends Checkpoint {
  readonly at?: { readonly file: string; readonly line: number };
}

export type ParseResult =
  | { readonly ok: true; readonly checkpoints: ExternalCheckpoint[] }
  | { readonly ok: false; readonly line: number; readonly error: string };

export function parseExternalCheckpoints(text: string, file: string): ParseResult {
  const out: ExternalCheckpoint[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).replace(/\r$/, '');
    const json = checkpointJson(line);
    if (json === null) continue;
    const cp = asCheckpoint(json);
    if (cp === null) continue;
    if (typeof cp === 'string') return { ok: false, line: i + 1, error: cp };
    out.push({ ...cp, at: { file, line: i + 1 } });
  }
  return { ok: true, checkpoints: out };
}

/** The checkpoint JSON text a line carries, or null when the line is not a checkpoint. */
function checkpointJson(line: string): string | null {
  const trimmed = line.trim();
  if (trimmed === '') return null;
  if (trimmed.startsWith('{')) return trimmed; // checkpoints.jsonl, or a bare MSG (events are skipped below)
  const cef = line.indexOf('CEF:0|');
  if (cef >= 0) return cefCheckpoint(line.slice(cef));
  // RFC 5424 `[LEN ]<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG` (tokens before MSG hold no spaces), or
  // rsyslog's `MSGID SD MSG`. MSG is the checkpoint JSON; the SD values hold no '{'.
  const tokens = trimmed.split(/\s+/);
  const k = tokens.slice(0, 2).findIndex((tok) => /^<[0-9]{1,3}>1$/.test(tok));
  const msgId = k >= 0 ? tokens[k + 5] : tokens[0];
  const brace = line.indexOf('{');
  if (msgId === SIEM_CHECKPOINT_TYPE) return brace < 0 ? '' : line.slice(brace).trim();
  if (k >= 0 || brace < 0) return null;
  // Some other layout (e.g. a traditional syslog line that lost the MSGID): a checkpoint only if it reads as one.
  const tail = line.slice(brace).trim();
  return tail.includes('"headHash"') && tail.includes('"sig"') ? tail : null;
}

/** CEF header fields split on unescaped `|`; the checkpoint rides in `cs6`, the last extension pair. */
function cefCheckpoint(cef: string): string | null {
  const fields: string[] = [];
  let cur = '';
  let i = 0;
  for (; i < cef.length && fields.length < 7; i++) {
    const c = cef[i] as string;
    if (c === '\\' && i + 1 < cef.length) cur += cef[++i];
    else if (c === '|') {
      fields.push(cur);
      cur = '';
    } else cur += c;
  }
  if (fields[4] !== SIEM_CHECKPOINT_TYPE) return null;
  const ext = cef.slice(i);
  const at = ext.search(/(^|\s)cs6=/);
  if (at < 0) return '';
  const value = ext.slice(ext.indexOf('cs6=', at) + 4);
  // CEF extension escaping: `\\`, `\=`, `\n`, `\r` [cef-format.ts cefValueEscape].
  return value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c)).trim();
}

/** The checkpoint, null for another record (an event: it has a `type`), or why it is unreadable. */
function asCheckpoint(json: string): Checkpoint | string | null {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return 'checkpoint message is not valid JSON';
  }
  if (
    v !== null &&
    typeof v === 'object' &&
    typeof (v as { type?: unknown }).type === 'string' &&
    (v as { type: string }).type !== SIEM_CHECKPOINT_TYPE
  )
    return null;
  const o = v as Partial<Record<keyof Checkpoint, unknown>> | null;
  const signer = o?.signer as { spiffeId?: unknown; certChainPem?: unknown } | null | undefined;
  if (
    o === null ||
    typeof o !== 'object' ||
    typeof o.seq !== 'number' ||
    typeof o.headHash !== 'string' ||
    typeof o.time !== 'string' ||
    typeof o.alg !== 'string' ||
    typeof o.sig !== 'string' ||
    typeof signer !== 'object' ||
    signer === null ||
    typeof signer.spiffeId !== 'string' ||
    typeof signer.certChainPem !== 'string'
  ) {
    return 'checkpoint is missing fields (seq, headHash, time, signer, alg, sig)';
  }
  return o as Checkpoint;
}
