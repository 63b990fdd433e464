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
 * the `values: hash` copy) keeps the generic one, so a member added elsewhere is never dropped here. A range is
 * written member by member: its members are the classifier's (`readRanges`).
 */
import type { ReadRange } from '../../protocols/modbus/types.js';
import type { AuditOutcome, AuditWriteRangeInput, RequestDecisionFields } from './request-event-fields.js';
import { spliceHash, writeValue, type Chain } from './canonical-line.js';
import { sha256Hex } from './canonical-json.js';
import type { LineBuffer } from './line-buffer.js';

type Shadow = NonNullable<RequestDecisionFields['shadow']>;

type OptionalKey<T> = { [K in keyof T]-?: Record<never, never> extends Pick<T, K> ? K : never }[keyof T];

/**
 * Every member named: an absent optional one is `undefined`, omitted from the line like a missing member. The keys
 * come through `Exclude` so the mapping is not homomorphic and no member keeps its `?`: a member added to
 * `RequestDecisionFields` must be given by the builder, declared and copied here, and rendered below (the tests'
 * arbitrary must generate it too, and then fail if the writer leaves it out).
 */
export type DecisionMembers = {
  readonly [K in Exclude<keyof RequestDecisionFields, never>]: K extends OptionalKey<RequestDecisionFields>
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
  cached(out, '{"decision":', e.decision, DECISION);
  cached(out, ',"device":', e.device, DEVICE);
  member(out, ',"exception":', e.exception);
  num(out, ',"fc":', e.fc);
  const split = out.pos; // `,"hash":"…"` goes here: `identity` is the first member after it
  cached(out, ',"identity":', e.identity, IDENTITY);
  num(out, ',"latencyMs":', e.latencyMs);
  cached(out, ',"outcome":', e.outcome, OUTCOME);
  cached(out, ',"policyVersion":', e.policyVersion, POLICY_VERSION);
  prev(out, chain.prev);
  readRanges(out, ',"reads":', e.reads);
  cached(out, ',"reason":', e.reason, REASON);
  optional(out, ',"role":', e.role, ROLE);
  optional(out, ',"ruleId":', e.ruleId, RULE_ID);
  num(out, ',"seq":', chain.seq);
  optional(out, ',"session":', e.session, SESSION);
  member(out, ',"shadow":', e.shadow);
  member(out, ',"subFunction":', e.subFunction);
  cached(out, ',"time":', chain.time, TIME);
  member(out, ',"transactionId":', e.transactionId);
  out.bytes(TYPE_UNIT);
  out.number(e.unit);
  writeRanges(out, ',"writes":', e.writes);
  out.byte(0x7d); // }
  const end = out.pos;
  const hash = sha256Hex(out.buf.subarray(start, end));
  spliceHash(out, split, end, hash, true, false);
  out.byte(0x0a);
  return hash;
}

/*
 * The text members that repeat from line to line, by their slot in the buffer's caches (LineBuffer.cachedMember):
 * one policy version, a few identities and devices, the session of a pipelined burst, the millisecond's time,
 * the usual decision, outcome and register table. Each slot keeps its member's key with the text, so a repeat is one copy.
 */
const DEVICE = 0;
const IDENTITY = 1;
const POLICY_VERSION = 2;
const REASON = 3;
const ROLE = 4;
const RULE_ID = 5;
const SESSION = 6;
const TIME = 7;
const DECISION = 8;
const OUTCOME = 9;
const TABLE = 10;

/** The longest constant run of the line, copied at once (a character loop costs about 4 ns a character). */
const TYPE_UNIT = new TextEncoder().encode(',"type":"request.decision","unit":'); // its own bytes, not a pool slice

/** `prev` is almost always the hash spliced into the line before: a hex digest with nothing to escape. */
function prev(out: LineBuffer, hash: string): void {
  if (hash !== out.lastHash) return text(out, ',"prev":', hash);
  out.ascii(',"prev":"');
  out.plain(hash);
  out.byte(0x22); // "
}

function cached(out: LineBuffer, prefix: string, v: string, slot: number): void {
  out.cachedMember(slot, prefix, v);
}

/** A member that may be absent (omitted) or null, else text. */
function optional(out: LineBuffer, prefix: string, v: string | null | undefined, slot: number): void {
  if (typeof v === 'string') cached(out, prefix, v, slot);
  else member(out, prefix, v);
}

// `prefix` is the member's ASCII `,"key":`; small enough for TurboFan to inline at each call.
function text(out: LineBuffer, prefix: string, v: string): void {
  out.ascii(prefix);
  out.jsonString(v);
}

function num(out: LineBuffer, prefix: string, v: number): void {
  out.ascii(prefix);
  out.number(v);
}

/**
 * `reads`, each range `{"count","start","table"}` in canonical order. A range is the classifier's `ReadRange`, with
 * exactly these members (protocols/modbus/classify.ts builds them; test/unit/audit-decision-line.test.ts holds
 * it), so its members are read directly, not through the generic writer's key list, sort and megamorphic loads.
 */
function readRanges(out: LineBuffer, prefix: string, a: readonly ReadRange[]): void {
  out.ascii(prefix);
  out.byte(0x5b); // [
  for (let i = 0; i < a.length; i++) {
    if (i > 0) out.byte(0x2c); // ,
    range(out, a[i]!);
    out.byte(0x7d); // }
  }
  out.byte(0x5d); // ]
}

/** `writes`: as `reads`, each range with its `values` (an array of numbers, or null) last. */
function writeRanges(out: LineBuffer, prefix: string, a: readonly AuditWriteRangeInput[]): void {
  out.ascii(prefix);
  out.byte(0x5b);
  for (let i = 0; i < a.length; i++) {
    if (i > 0) out.byte(0x2c);
    const r = a[i]!;
    range(out, r);
    out.ascii(',"values":');
    writeValue(out, r.values);
    out.byte(0x7d);
  }
  out.byte(0x5d);
}

/** A range's first three members, brace opened and left open. */
function range(out: LineBuffer, r: ReadRange): void {
  out.ascii('{"count":');
  out.number(r.count);
  out.ascii(',"start":');
  out.number(r.start);
  out.cachedMember(TABLE, ',"table":', r.table);
}

/** Any other value (arrays, null, optional members) as the generic renderer writes it; `undefined` is omitted. */
function member(out: LineBuffer, prefix: string, v: unknown): void {
  if (v === undefined) return;
  out.ascii(prefix);
  writeValue(out, v);
}
