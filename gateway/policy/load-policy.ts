/**
 * The one entry point that reads a policy file: load + schema + compile + the policy's own tests. It builds
 * the whole CompiledPolicy before returning, so a reload swaps one reference and a bad file changes nothing.
 * (The only module of gateway/policy that does I/O: reading the file; everything it calls is pure.)
 */
import { configError, loadYamlDocument } from '../config/load-yaml.js';
import type { CompiledPolicy } from './compiled-policy.js';
import { compilePolicy, parsePolicyDocument } from './compile-policy.js';
import { policySchema } from './policy-schema.js';
import type { PolicySource } from './policy-source.js';
import { runPolicyTests } from './policy-tests.js';

/** Throws GW_ERR_POLICY_INVALID (unreadable, schema, compile) or GW_ERR_POLICY_TEST_FAILED. */
export function loadPolicyFile(path: string): CompiledPolicy {
  const doc = loadYamlDocument<PolicySource>(path, policySchema, {
    code: 'GW_ERR_POLICY_INVALID',
    unreadableCode: 'GW_ERR_POLICY_INVALID',
    module: 'policy',
  });
  return withTestsPassing(compilePolicy(doc));
}

export function loadPolicyText(text: string, sourceName: string): CompiledPolicy {
  return withTestsPassing(compilePolicy(parsePolicyDocument(text, sourceName)));
}

function withTestsPassing(policy: CompiledPolicy): CompiledPolicy {
  const report = runPolicyTests(policy);
  if (report.failures.length > 0) {
    const n = report.failures.length;
    throw configError(
      'GW_ERR_POLICY_TEST_FAILED',
      'policy',
      `${n} of ${policy.tests.length} test(s) in ${policy.sourceName} failed`,
      report.failures,
    );
  }
  return policy;
}
