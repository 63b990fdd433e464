/**
 * A Modbus request as the policy judges it: its register ranges in judging order, and the facts that decide
 * whether a rule is active for it (unit, broadcast, schedule time). Built once per decision and shared by the
 * deny check, the allow check and every shadow rule.
 */
import type { ClassifiedRequest, ReadRange, Table, WriteRange } from '../../protocols/modbus/types.js';
import type { CompiledRule } from './compiled-policy.js';
import type { PolicyReason } from '../reasons.js';

export type Access = 'read' | 'write';

/** A deny reason as code and detail (policy-reason.ts); a check returns null when it has none. */
export type Refusal = PolicyReason;

/** One register range the request touches. */
export interface Target {
  readonly access: Access;
  readonly table: Table;
  readonly start: number;
  /** Last address touched (inclusive). */
  readonly end: number;
  /**
   * Values written, one per address from `start`; null when the resulting value is unknown (FC22 mask write);
   * undefined for a read.
   */
  readonly values: readonly number[] | null | undefined;
}

export interface JudgedRequest {
  readonly req: ClassifiedRequest;
  /** Writes first: FC23 writes before it reads [MB-APP 6.17], and a write is the more telling reason. */
  readonly targets: readonly Target[];
  readonly unit: number;
  /** Unit 0 and not a pure read: only rules naming unit 0 may grant it. */
  readonly broadcast: boolean;
  readonly nowMs: number;
  /** Policy tests without an `at` time treat every schedule as open, so they never flake. */
  readonly ignoreSchedules: boolean;
}

export function judgedRequest(req: ClassifiedRequest, now: Date, ignoreSchedules: boolean): JudgedRequest {
  return {
    req,
    targets: targetsOf(req),
    unit: req.unit,
    broadcast: req.unit === 0 && req.kind !== 'read',
    nowMs: now.getTime(),
    ignoreSchedules,
  };
}

/**
 * Every Modbus request touches at most one write range and one read range (FC23 both): built as array
 * literals, which costs a third of a growing array on the hot path (bench/policy-eval.ts).
 */
function targetsOf({ writes, reads }: ClassifiedRequest): readonly Target[] {
  const w = writes[0];
  const r = reads[0];
  if (writes.length > 1 || reads.length > 1) return [...writes.map(writeTarget), ...reads.map(readTarget)];
  if (w === undefined) return r === undefined ? [] : [readTarget(r)];
  return r === undefined ? [writeTarget(w)] : [writeTarget(w), readTarget(r)];
}

function writeTarget(w: WriteRange): Target {
  return { access: 'write', table: w.table, start: w.start, end: w.start + w.count - 1, values: w.values };
}

function readTarget(r: ReadRange): Target {
  return { access: 'read', table: r.table, start: r.start, end: r.start + r.count - 1, values: undefined };
}

/** Read, write and read/write function codes are judged by their registers; every other code by its number. */
export function isRegisterAccess(req: ClassifiedRequest): boolean {
  return req.kind === 'read' || req.kind === 'write' || req.kind === 'read-write';
}

/**
 * Is `rule` in force for this request: its units (a rule naming none never grants a broadcast), and its
 * schedule. `granting`: judged as an allow (a deny rule without units still denies broadcasts).
 */
export function isActive(rule: CompiledRule, r: JudgedRequest, granting: boolean): boolean {
  if (rule.units !== null ? rule.units[r.unit] !== 1 : granting && r.broadcast) return false;
  return rule.schedule === null || r.ignoreSchedules || rule.schedule.contains(r.nowMs);
}

const BROADCAST_NOT_ALLOWED: Refusal = Object.freeze({ code: 'broadcast-not-allowed', detail: '' });

/** Why `rule` (which would grant) is not in force: the reason reported when no other rule grants. */
export function inactiveReason(rule: CompiledRule, r: JudgedRequest): Refusal {
  if (rule.units === null && r.broadcast) return BROADCAST_NOT_ALLOWED;
  if (rule.units !== null && rule.units[r.unit] !== 1) return { code: 'unit-not-allowed', detail: String(r.unit) };
  return { code: 'outside-schedule', detail: rule.id };
}

/** Does `rule`, which names the request's function code, also allow its sub-function (any, when it lists none)? */
export function coversSubFunction(rule: CompiledRule, req: ClassifiedRequest): boolean {
  const subs = rule.functions.get(req.fc);
  return subs === null || (req.subFunction !== undefined && subs !== undefined && subs.includes(req.subFunction));
}

export function functionLabel(req: ClassifiedRequest): string {
  return req.subFunction === undefined ? `fc:${req.fc}` : `fc:${req.fc}/${req.subFunction}`;
}
