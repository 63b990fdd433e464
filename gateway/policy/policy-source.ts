/**
 * The TypeScript shape of a schema-valid policy.yaml (policy-schema.ts), kept in step with the schema: what the
 * compiler reads, what `policy learn` and `policy diff` write, and the plain-data requests of policy tests and
 * `verigate policy explain`.
 */

export type RangeSpec = number | string | readonly (number | string)[];
export type Access = 'read' | 'write' | 'read-write';
export type TableName = 'holding' | 'input' | 'coils' | 'discrete';

export interface RegisterEntrySource {
  readonly access: Access;
  readonly table?: TableName;
  readonly tables?: readonly TableName[];
  readonly addresses: RangeSpec;
  readonly values?: RangeSpec;
}

export type RecordValueType = 'u8' | 'i8' | 'u16be' | 'i16be' | 'u32be' | 'i32be';

/** Typed bytes of a PROFINET record: `range: "min..max"` or `values: [..]`. */
export interface RecordValueSource {
  readonly offset: number;
  readonly type: RecordValueType;
  readonly range?: string;
  readonly values?: readonly number[];
}

/** A `profinet:` entry of a rule: which record services on which records (see docs/policy.md). */
export interface RecordEntrySource {
  readonly access: 'read' | 'write';
  readonly api?: number;
  readonly slots: RangeSpec;
  readonly subslots: RangeSpec;
  readonly indices: RangeSpec;
  /** write: the exact data length (required in allow entries); read: the most bytes a client may ask. */
  readonly length?: number;
  readonly values?: readonly RecordValueSource[];
  /** write: the exact record bytes, hex. */
  readonly bytes?: string;
}

export type FunctionEntrySource = number | { readonly fc: number; readonly sub?: readonly number[] };

export interface RuleSource {
  readonly id: string;
  readonly description?: string;
  readonly principals: readonly string[];
  readonly devices: readonly string[];
  readonly units?: RangeSpec;
  readonly effect?: 'allow' | 'deny';
  readonly mode?: 'enforce' | 'shadow';
  readonly allow?: readonly RegisterEntrySource[];
  readonly deny?: readonly RegisterEntrySource[];
  readonly functions?: readonly FunctionEntrySource[];
  /** PROFINET record services this rule allows (or, in a deny rule, denies). */
  readonly profinet?: readonly RecordEntrySource[];
  readonly schedule?: {
    readonly days?: string | readonly string[];
    readonly hours?: string | readonly string[];
    readonly tz?: string;
  };
  readonly rate?: string;
  /** Operator control work a trust downgrade never blocks (still audited, still subject to policy, locks, JIT). */
  readonly essential?: boolean;
  /** Fleet members: `strict` = writes refused once the box's view of the hub is older than `maxStaleness`. */
  readonly lockMode?: 'strict' | 'best_effort';
  /** Duration; default the gateway's `fleet.maxStaleness` (60 s). Only with `lockMode: strict`. */
  readonly maxStaleness?: string;
  readonly jit?: {
    readonly approvers: readonly string[];
    readonly maxDuration: string;
    readonly threshold?: number;
    /** Fleet members: who may approve at this site's own admin API (otherwise grants come from the hub). */
    readonly siteLocalApprovers?: readonly string[];
  };
}

/** A request described in plain data (policy tests, `verigate policy explain`); built through the codec. */
export interface PolicyRequestSpec {
  readonly id: string;
  readonly role?: string | null;
  readonly device: string;
  readonly fc: number;
  readonly address?: number;
  /** Quantity for reads, or the number of copies of `value` for FC15/16. Default 1. */
  readonly count?: number;
  readonly value?: number;
  readonly values?: readonly number[];
  /** FC23 read part; defaults to `address`/`count`. */
  readonly readAddress?: number;
  readonly readCount?: number;
  /** FC8 sub-function, FC43 MEI type. */
  readonly subFunction?: number;
  /** Default 1. */
  readonly unit?: number;
  /** ISO 8601 instant; default `now`. */
  readonly at?: string;
}

/** A PROFINET record request in plain data (policy tests, `verigate policy explain --profinet`). */
export interface RecordQuerySource {
  readonly access: 'read' | 'write';
  /** Default 0. */
  readonly api?: number;
  readonly slot: number;
  readonly subslot: number;
  readonly index: number;
  /** read: the most bytes asked (default 65535); write: default the length of `data`. */
  readonly length?: number;
  /** write: the record bytes as hex (default `length` zero bytes). */
  readonly data?: string;
}

export interface PolicyRecordSpec {
  readonly id: string;
  readonly role?: string | null;
  readonly device: string;
  readonly profinet: RecordQuerySource;
  /** ISO 8601 instant; default `now`. */
  readonly at?: string;
}

/** What a test expects, whatever the protocol. */
interface PolicyTestExpectation {
  readonly name?: string;
  readonly expect: 'allow' | 'deny';
  readonly rule?: string | null;
  readonly reason?: string;
  /** Expect the allow to be (true) or not to be (false) essential. */
  readonly essential?: boolean;
}

/** A PROFINET test inside the policy file. */
export interface PolicyRecordTestSource extends PolicyRecordSpec, PolicyTestExpectation {}

/** Modbus tests carry `fc`, PROFINET tests `profinet` (the compiler refuses both or neither). */
export type AnyPolicyTestSource = PolicyTestSource | PolicyRecordTestSource;

export function isRecordTest(t: AnyPolicyTestSource): t is PolicyRecordTestSource {
  return (t as { profinet?: unknown }).profinet !== undefined;
}

/** A test inside the policy file: the request and what it must yield. */
export interface PolicyTestSource extends PolicyRequestSpec {
  readonly name?: string;
  readonly expect: 'allow' | 'deny';
  readonly rule?: string | null;
  readonly reason?: string;
  /** Expect the allow to be (true) or not to be (false) essential. */
  readonly essential?: boolean;
}

export type AdminOp = 'sessions' | 'locks' | 'reload' | 'grants' | 'audit';
export const ADMIN_OPS: readonly AdminOp[] = ['sessions', 'locks', 'reload', 'grants', 'audit'];

export interface PolicySource {
  readonly version: 1;
  readonly trustDomain: string;
  readonly description?: string;
  readonly mode?: 'enforce' | 'shadow';
  readonly roles?: Readonly<Record<string, readonly string[]>>;
  readonly admins?: readonly string[] | Partial<Record<AdminOp, readonly string[]>>;
  readonly rules: readonly RuleSource[];
  readonly trust?: {
    readonly threshold: number;
    readonly onBreach?: 'read-only' | 'terminate';
    readonly weights?: Readonly<Record<string, number>>;
  };
  readonly session?: { readonly maxPerIdentity?: number; readonly idleTimeout?: string; readonly revalidate?: string };
  readonly tests?: readonly AnyPolicyTestSource[];
}
