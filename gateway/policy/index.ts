/** Public surface of the policy module. Import from `gateway/policy/index.js`. */
export { evaluate, type EvaluateOptions } from './evaluate.js';
export { evaluateRecord, recordLabel } from './evaluate-record.js';
export {
  explainRecord,
  buildRecordRequest,
  describeRecordRequest,
  DEFAULT_READ_LENGTH,
  type RecordExplainResult,
} from './explain-record.js';
export { explain, buildRequest, type ExplainQuery, type ExplainResult, type ExplainOptions } from './explain.js';
export { loadPolicyFile, loadPolicyText } from './load-policy.js';
export { compilePolicy, compilePolicyText, parsePolicyDocument } from './compile-policy.js';
export { runPolicyTests, type PolicyTestReport } from './policy-tests.js';
export { policySchema } from './policy-schema.js';
export type {
  PolicySource,
  RuleSource,
  PolicyTestSource,
  PolicyRecordTestSource,
  AnyPolicyTestSource,
  PolicyRecordSpec,
  RecordQuerySource,
  RecordEntrySource,
  AdminOp,
} from './policy-source.js';
export { ADMIN_OPS, isRecordTest } from './policy-source.js';
export {
  isAdmin,
  reasonCode,
  type CompiledPolicy,
  type CompiledRule,
  type Decision,
  type JitObligation,
  type Obligations,
  type PeerRef,
  type RateObligation,
  type SessionSettings,
  type ShadowResult,
  type TrustSettings,
} from './compiled-policy.js';
