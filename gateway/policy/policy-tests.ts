/**
 * Runs the `tests:` of a policy file against the compiled policy — a bad policy never reaches the data path
 * (`policy check` and every load/reload run them). Tests without `at` treat schedules as open so that a
 * policy never fails to load merely because of the time of day; give `at` to test a schedule.
 */
import { isGatewayError } from '../errors.js';
import type { ConfigErrorDetail } from '../config/load-yaml.js';
import type { CompiledPolicy, CompiledPolicyTest, Decision } from './compiled-policy.js';
import { explain } from './explain.js';
import { describeRecordRequest, explainRecord } from './explain-record.js';
import { isRecordTest } from './policy-source.js';

export interface PolicyTestReport {
  readonly passed: number;
  readonly failures: readonly ConfigErrorDetail[];
}

export function runPolicyTests(policy: CompiledPolicy): PolicyTestReport {
  const failures: ConfigErrorDetail[] = [];
  for (const t of policy.tests) {
    const problem = runOne(policy, t);
    if (problem !== null) failures.push({ ...t.position, message: `${t.label}: ${problem}` });
  }
  return { passed: policy.tests.length - failures.length, failures };
}

function runOne(policy: CompiledPolicy, t: CompiledPolicyTest): string | null {
  const q = t.test;
  let decision: Decision;
  let request: string;
  try {
    if (isRecordTest(q)) {
      const r = explainRecord(policy, q, { ignoreSchedulesWithoutAt: true });
      decision = r.decision;
      request = describeRecordRequest(r.request);
    } else {
      decision = explain(policy, q, { ignoreSchedulesWithoutAt: true }).decision;
      request = `fc${q.fc}${q.address === undefined ? '' : ` @${q.address}`}`;
    }
  } catch (err) {
    if (isGatewayError(err)) return err.message.replace(/^policy: explain: /, '');
    throw err;
  }
  const what = `${q.id}${q.role ? ` (role ${q.role})` : ''} ${request} on ${q.device}`;
  const got = `${decision.effect} by ${decision.ruleId ?? 'no rule'} (${decision.reason})`;
  if (decision.effect !== q.expect) return `${what}: expected ${q.expect}, got ${got}`;
  if (q.rule !== undefined && decision.ruleId !== q.rule)
    return `${what}: expected rule ${q.rule ?? 'none'}, got ${got}`;
  if (q.reason !== undefined && decision.reason !== q.reason && !decision.reason.startsWith(`${q.reason} `)) {
    return `${what}: expected reason ${q.reason}, got ${got}`;
  }
  if (q.essential !== undefined && (decision.essential === true) !== q.essential) {
    return `${what}: expected ${q.essential ? 'an essential' : 'a non-essential'} allow, got ${got}${decision.essential ? ' essential' : ''}`;
  }
  return null;
}
