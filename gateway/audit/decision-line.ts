/**
 * `request.decision`, the event of every Modbus request, in one fixed shape with a straight-line renderer.
 *
 * The generic renderer (canonical-line.ts) finds an event's plan by its key list and reads each member through
 * a keyed load that sees every event shape, so V8 serves it from its megamorphic stub cache. The decision event
 * is most of the trail, and it was the gateway's top profile entry under load (issue 11). As an instance of
 * this class it always has one hidden class: the writer below reads each member directly, in canonical order
 * (UTF-16 code units, `hash` spliced in before `identity`). Its bytes are the generic renderer's, byte for byte:
 * test/unit/audit-decision-line.test.ts renders random decisions both ways.
 *
 * Only instances take this path. A plain object with `type: 'request.decision'` (a spread, a replayed record,
 * the `values: hash` copy) keeps the generic one, so a member added elsewhere is never dropped here.
 */
import type { ReadRange } from '../../protocols/modbus/types.js';
import type { AuditOutcome, AuditWriteRangeInput, RequestDecisionFields } from './audit-events.js';
import { spliceHash, writeValue, type Chain } from './canonical-line.js';
import { sha256Hex } from './canonical-json.js';
import type { LineBuffer } from './line-buffer.js';

type Shadow = NonNullable<RequestDecisionFields['shadow']>;

type OptionalKey<T> = { [K in keyof T]-?: Record<never, never> extends Pick<T, K> ? K : never }[keyof T];

/**
 * Every member named (`as K` remaps the keys, so no member is optional): an absent optional one is `undefined`,
 * omitted from the line like a missing member.
 */
export type DecisionMembers = {
  readonly [K in keyof RequestDecisionFields as K]: K extends OptionalKey<RequestDecisionFields>
    ? RequestDecisionFields[K] | undefined
    : RequestDecisionFields[K];
};

export class RequestDecisionEvent implements RequestDecisionFields {
  readonly type = 'request.decision' as const;
  readonly session: string | undefined;
  readonly identity: string;
  readonly role: string | undefined;
  readonly device: string;
  readonly unit: number;
  readonly fc: number;
  readonly subFunction: number | undefined;
  readonly transactionId: number | undefined;
  readonly reads: readonly ReadRange[];
  readonly writes: readonly AuditWriteRangeInput[];
  readonly decision: 'allow' | 'deny' | 'learn';
  readonly ruleId: string | null;
  readonly reason: string;
  readonly outcome: AuditOutcome | 'pending';
  readonly exception: number | undefined;
  readonly latencyMs: number;
  readonly policyVersion: string;
  readonly shadow: Shadow | undefined;

  constructor(m: DecisionMembers) {
    this.session = m.session;
    this.identity = m.identity;
    this.role = m.role;
    this.device = m.device;
    this.unit = m.unit;
    this.fc = m.fc;
    this.subFunction = m.subFunction;
    this.transactionId = m.transactionId;
    this.reads = m.reads;
    this.writes = m.writes;
    this.decision = m.decision;
    this.ruleId = m.ruleId;
    this.reason = m.reason;
    this.outcome = m.outcome;
    this.exception = m.exception;
    this.latencyMs = m.latencyMs;
    this.policyVersion = m.policyVersion;
    this.shadow = m.shadow;
  }
}

/** Renders `e`'s stored line at `out.end` (newline included, like renderLine) and returns its hash. */
export function renderDecisionLine(out: LineBuffer, e: RequestDecisionEvent, chain: Chain): string {
  out.pos = out.end;
  const start = out.pos;
  out.ascii('{"decision":');
  out.jsonString(e.decision);
  out.ascii(',"device":');
  out.jsonString(e.device);
  if (e.exception !== undefined) {
    out.ascii(',"exception":');
    out.number(e.exception);
  }
  out.ascii(',"fc":');
  out.number(e.fc);
  const split = out.pos; // `,"hash":"…"` goes here: `identity` is the first member after it
  out.ascii(',"identity":');
  out.jsonString(e.identity);
  out.ascii(',"latencyMs":');
  out.number(e.latencyMs);
  out.ascii(',"outcome":');
  out.jsonString(e.outcome);
  out.ascii(',"policyVersion":');
  out.jsonString(e.policyVersion);
  out.ascii(',"prev":');
  out.jsonString(chain.prev);
  out.ascii(',"reads":');
  writeValue(out, e.reads);
  out.ascii(',"reason":');
  out.jsonString(e.reason);
  if (e.role !== undefined) {
    out.ascii(',"role":');
    out.jsonString(e.role);
  }
  out.ascii(',"ruleId":');
  writeValue(out, e.ruleId);
  out.ascii(',"seq":');
  out.number(chain.seq);
  optional(out, ',"session":', e.session);
  optional(out, ',"shadow":', e.shadow);
  optional(out, ',"subFunction":', e.subFunction);
  out.ascii(',"time":');
  out.jsonString(chain.time);
  optional(out, ',"transactionId":', e.transactionId);
  out.ascii(',"type":"request.decision","unit":');
  out.number(e.unit);
  out.ascii(',"writes":');
  writeValue(out, e.writes);
  out.byte(0x7d); // }
  const end = out.pos;
  const hash = sha256Hex(out.buf.subarray(start, end));
  spliceHash(out, split, end, hash, true, false);
  out.byte(0x0a);
  return hash;
}

function optional(out: LineBuffer, prefix: string, v: unknown): void {
  if (v === undefined) return;
  out.ascii(prefix);
  writeValue(out, v);
}
