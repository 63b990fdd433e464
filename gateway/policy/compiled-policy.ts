/**
 * The compiled policy and the decision it yields: the contract between the compiler, the evaluator and the
 * runtime (frontdoor, trust, audit, admin API). Everything here is immutable once built; the only mutable
 * state lives in private caches of the index (see policy-index.ts) and never changes a result.
 */
import type { IdPattern } from '../identity/spiffe-id-pattern.js';
import type { Table } from '../../protocols/modbus/types.js';
import type { SourcePosition } from '../config/load-yaml.js';
import type { Interval } from './ranges.js';
import type { Schedule } from './schedule.js';
import type { AdminOp, AnyPolicyTestSource, PolicySource, RecordValueType } from './policy-source.js';
import { reasonText, type PolicyReason, type PolicyReasonCode } from '../reasons.js';

/** The peer as the evaluator sees it: its SPIFFE ID and its Modbus/TCP Security role claim (or null). */
export interface PeerRef {
  readonly id: string;
  readonly role: string | null;
}

/**
 * The runtime must enforce these before forwarding an allowed request:
 * - `jit`: the rule that granted the request requires an approved, unexpired JIT grant for this identity and
 *   rule; the evaluator cannot know grants (they are runtime state), so it allows with this obligation and the
 *   runtime denies (`jit-required`) when no grant is active.
 * - `rate`: the granting rule limits this identity to `perSecond` requests (token bucket per identity+rule).
 *   When several rate-limited rules grant parts of one request, `rate` is the first one's and `rates` lists
 *   every one's (the first included): the runtime takes a token of each bucket, all or none — else a request
 *   spanning a fast and a slow rule's registers would pass the slow rule's limit on the fast one's bucket.
 * - `strict`: the granting rule has `lockMode: strict`: on a fleet member, a write is refused (`fleet-stale`) once
 *   the box's view of the hub (locks, grants) is older than `maxStalenessMs` (null = the gateway's
 *   `fleet.maxStaleness`); with several strict granting rules, the tightest limit of them all. Staleness is
 *   runtime state, so the evaluator only names the obligation.
 */
export interface JitObligation {
  readonly ruleId: string;
  readonly approvers: readonly string[];
  readonly maxDurationMs: number;
  readonly threshold: number;
  /** `siteLocalApprovers`: on a fleet member, the only identities the local admin API lets approve (absent: none). */
  readonly siteLocalApprovers?: readonly string[];
  /**
   * The registers of this request that JIT rules grant, when other rules (needing no grant) grant the rest —
   * e.g. the write half of an FC23 whose read half another rule allows: the grant must cover these, not the
   * whole request. Absent = the grant must cover the whole request.
   */
  readonly scope?: JitScope;
}
/** Register ranges a JIT grant must cover (only table, start and count matter). */
export interface JitScope {
  readonly reads: readonly RegisterSpan[];
  readonly writes: readonly RegisterSpan[];
}
export interface RegisterSpan {
  readonly table: Table;
  readonly start: number;
  readonly count: number;
}
export interface RateObligation {
  readonly ruleId: string;
  readonly perSecond: number;
}
export interface StrictObligation {
  readonly ruleId: string;
  /** null: the gateway's default (`fleet.maxStaleness`, 60 s). */
  readonly maxStalenessMs: number | null;
  /**
   * Several strict rules granted the request, this one without a maxStaleness of its own: the limit is the
   * tighter of `maxStalenessMs` (rule `ruleId`) and the gateway's default (rule `defaultRuleId`).
   */
  readonly defaultRuleId?: string;
}
export interface Obligations {
  readonly jit?: JitObligation;
  readonly rate?: RateObligation;
  /** Only when two or more rate-limited rules granted parts: all of their rates, `rate` first. */
  readonly rates?: readonly RateObligation[];
  readonly strict?: StrictObligation;
}

export interface ShadowResult {
  readonly ruleId: string;
  readonly effect: 'allow' | 'deny';
}

/**
 * A policy decision. `code` and `detail` say why (policy-reason.ts: the one table of codes); `reason` is their
 * audit text, `reasonText(code, detail)`, made by the builders below and never parsed back:
 * `allowed`, `no-rule`, `explicit-deny …`, `address-not-allowed read|write <table>:<addr>`,
 * `value-not-allowed <table>:<addr>=<value|?>`, `function-not-allowed fc:<n>[/<sub>]`,
 * `broadcast-not-allowed`, `unit-not-allowed <unit>`, `outside-schedule <ruleId>`, `malformed-request …`,
 * `shadow-mode <real reason>` (policy-level shadow mode: the verdict is allow, the real one is in `shadow`).
 */
export interface Decision {
  readonly effect: 'allow' | 'deny';
  readonly ruleId: string | null;
  readonly code: PolicyReasonCode;
  /** '' when the code says it all. */
  readonly detail: string;
  /** The audit text of code and detail (public contract, docs/reference.md). */
  readonly reason: string;
  readonly obligations?: Obligations;
  readonly shadow?: readonly ShadowResult[];
  /**
   * Every rule that granted this allow is `essential: true`: operator control work that a trust downgrade
   * (read-only, or session end by score) never blocks. Locks, JIT, rate and value limits still apply.
   */
  readonly essential?: true;
  /**
   * A deny of a request touching a register that an entry of a JIT rule applicable to the peer and device
   * covers (whatever its values): that rule's id. Commissioning mode never learns such a request: without an
   * approved grant it must stay denied (gateway/evidence/learn-mode.ts). Not audited.
   */
  readonly jitRule?: string;
}

/** A deny of the policy, with the audit text of its reason. */
export function denyDecision(ruleId: string | null, why: PolicyReason): Decision {
  return { effect: 'deny', ruleId, code: why.code, detail: why.detail, reason: reasonText(why.code, why.detail) };
}

export { reasonCode } from '../reasons.js';

export interface CompiledEntry {
  readonly rule: CompiledRule;
  readonly read: boolean;
  readonly write: boolean;
  readonly tables: readonly Table[];
  readonly addresses: readonly Interval[];
  /** Allowed (or, in a deny rule, denied) written values; null = any value. */
  readonly values: readonly Interval[] | null;
}

/** One typed field of a PROFINET record (`values:` of a `profinet:` entry). */
export interface CompiledRecordValue {
  readonly offset: number;
  readonly type: RecordValueType;
  /** Bytes the type occupies. */
  readonly size: number;
  /** Allowed (deny rule: denied) values, sorted and merged; may be negative for signed types. */
  readonly allowed: readonly Interval[];
}

/** A `profinet:` entry: record services on (api, slots, subslots, indices) with length and value limits. */
export interface CompiledRecordEntry {
  readonly rule: CompiledRule;
  readonly access: 'read' | 'write';
  /** null: every API (a deny entry that names none). */
  readonly api: number | null;
  readonly slots: readonly Interval[];
  readonly subslots: readonly Interval[];
  readonly indices: readonly Interval[];
  /** write: the exact data length; read: the most bytes a client may ask; null = any. */
  readonly length: number | null;
  readonly values: readonly CompiledRecordValue[] | null;
  /** write: the exact record bytes; null = any. */
  readonly bytes: Buffer | null;
}

export interface CompiledRule {
  readonly id: string;
  /** Position in the file: ties are broken by order. */
  readonly index: number;
  readonly effect: 'allow' | 'deny';
  readonly mode: 'enforce' | 'shadow';
  readonly matchesPrincipal: (peer: PeerRef) => boolean;
  readonly devicePatterns: readonly string[];
  /** 256-entry membership table, or null when the rule names no units. */
  readonly units: Uint8Array | null;
  readonly schedule: Schedule | null;
  readonly entries: readonly CompiledEntry[];
  /** PROFINET record entries (`profinet:`), in file order. */
  readonly profinet: readonly CompiledRecordEntry[];
  /** Named function codes → allowed sub-functions (null = any). */
  readonly functions: ReadonlyMap<number, readonly number[] | null>;
  /** A deny rule with no entries, no functions and no `profinet` entries denies every request it matches. */
  readonly denyAll: boolean;
  readonly jit: JitObligation | null;
  readonly rate: RateObligation | null;
  /** `lockMode: strict` (null for `best_effort`, the default). */
  readonly strict: StrictObligation | null;
  /** `essential: true`: its allows are never blocked by a trust downgrade (see Decision.essential). */
  readonly essential: boolean;
  readonly position: SourcePosition;
  /** The allow decision when this rule alone grants a request (shared, frozen: no allocation per request). */
  readonly allowDecision: Decision;
}

export interface TrustSettings {
  readonly threshold: number;
  readonly onBreach: 'read-only' | 'terminate';
  readonly weights: Readonly<Record<string, number>>;
}

export interface SessionSettings {
  readonly maxPerIdentity: number | null;
  readonly idleTimeoutMs: number | null;
  readonly revalidateMs: number | null;
}

export interface CompiledPolicyTest {
  readonly test: AnyPolicyTestSource;
  readonly position: SourcePosition;
  /** Display name: `name`, else `tests[i]`. */
  readonly label: string;
}

export interface CompiledPolicy {
  /** sha256 (hex) of the source text: the version recorded in every audit event. */
  readonly version: string;
  readonly sourceName: string;
  readonly trustDomain: string;
  /** `shadow` = test mode for the whole policy: every verdict becomes allow, the real one is reported. */
  readonly mode: 'enforce' | 'shadow';
  readonly rules: readonly CompiledRule[];
  readonly roles: ReadonlyMap<string, readonly IdPattern[]>;
  readonly admins: Readonly<Record<AdminOp, readonly IdPattern[]>>;
  /** null when the policy sets no trust section (the runtime then applies its defaults). */
  readonly trust: TrustSettings | null;
  readonly session: SessionSettings;
  readonly tests: readonly CompiledPolicyTest[];
  readonly source: PolicySource;
  /** @internal the decision index; use `evaluate`. */
  readonly index: PolicyIndex;
}

/** Addresses [lo, hi] of one (access, table), every one of them covered by the same entries. */
export interface Segment {
  readonly lo: number;
  readonly hi: number;
  /** The entries covering it (at least one), preferred first (rules without JIT first, then file order). */
  readonly entries: readonly [CompiledEntry, ...CompiledEntry[]];
}

/** Sorted, disjoint segments of one (access, table); the addresses between them no entry covers. */
export type Segments = readonly Segment[];

/** Per table: its segments, or null when no entry names the table. */
export type TableIndex = Readonly<Record<Table, Segments | null>>;

/** Rules of one effect that apply to one (device, peer), indexed for the hot path. */
export interface RuleSetView {
  /** Rules with Modbus content (register entries, functions, deny-everything), file order. */
  readonly rules: readonly CompiledRule[];
  readonly read: TableIndex;
  readonly write: TableIndex;
  /** fc → rules naming it, preferred first. */
  readonly functions: ReadonlyMap<number, readonly CompiledRule[]>;
  /** Deny rules with no entries and no functions (deny everything they match). */
  readonly all: readonly CompiledRule[];
  /** PROFINET record entries, preferred first (rules without JIT first, then file order): scanned linearly. */
  readonly records: readonly CompiledRecordEntry[];
}

export interface PeerView {
  readonly allow: RuleSetView;
  readonly deny: RuleSetView;
  /** Shadow rules, each with its own one-rule view. */
  readonly shadow: readonly { readonly rule: CompiledRule; readonly view: RuleSetView }[];
}

export interface PolicyIndex {
  viewFor(device: string, peer: PeerRef): PeerView;
}

/** May `id` use admin operation `op` (sessions, locks, reload, grants, audit)? */
export function isAdmin(policy: CompiledPolicy, id: string, op: AdminOp): boolean {
  return policy.admins[op].some((p) => p.matches(id));
}
