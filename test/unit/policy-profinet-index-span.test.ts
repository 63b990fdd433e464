/**
 * `indices: "*"` is refused in a `profinet:` entry, and so is `*` under another name in an allow entry: a range
 * spanning every index, or one allowing more than 256 user indices (0x0000-0x7FFF, vendor-specific) in a row,
 * also when written as adjacent ranges. Deny entries may be as wide as they like. Ported from the review's
 * proof: `"0-0xFFFF"` compiled without a word and allowed user index 0x007B.
 */
import t from 'tap';
import { ConfigError } from '../../gateway/config/load-yaml.js';
import { compilePolicyText, evaluateRecord } from '../../gateway/policy/index.js';
import type { RecordRequest } from '../../protocols/profinet/index.js';

const TD = 'plant.example';
const PEER = { id: `spiffe://${TD}/x`, role: null };

const policy = (indices: string, effect = 'allow'): string => `version: 1
trustDomain: ${TD}
rules:
  - id: r
    effect: ${effect}
    principals: [spiffe://${TD}/x]
    devices: [rio-1]
    profinet:
      - { access: read, slots: "*", subslots: "*", indices: ${indices} }
`;

function refusal(text: string): string {
  try {
    compilePolicyText(text, 'p.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return '';
}

t.test('"*" and the whole index space are refused alike (review F6)', async (t) => {
  t.match(refusal(policy('"*"')), /"\*" is refused for indices/);
  t.match(refusal(policy('"0-0xFFFF"')), /p\.yaml:9:\d+.*indices 0x0000-0xffff span every index/);
  t.match(refusal(policy('["0-0x7FFF", "0x8000-0xFFFF"]')), /span every index/, 'also as adjacent ranges');
});

t.test(
  'an allow range over more than 256 user indices is refused; narrower ones and deny entries compile',
  async (t) => {
    t.match(refusal(policy('"0x0000-0x7FFF"')), /allow 32768 user indices in a row/);
    t.equal(refusal(policy('"0x7F00-0x8100"')), '', 'only its user part counts: 0x7F00-0x7FFF, 256 indices');
    t.match(refusal(policy('"0x7EFF-0x8100"')), /allow 257 user indices/);
    t.match(refusal(policy('["0x0100-0x01FF", "0x0200-0x0200"]')), /allow 257 user indices/, 'adjacent ranges merge');
    t.equal(refusal(policy('"0x0100-0x01FF"')), '', '256 user indices compile');
    t.equal(refusal(policy('"0x8000-0xFFFF"')), '', 'standard indices are not user indices');
    t.equal(refusal(policy('"0-0xFFFF"', 'deny')), '', 'a deny entry may deny every index');
    const p = compilePolicyText(policy('"0x0100-0x01FF"'), 'p.yaml');
    const r: RecordRequest = { access: 'read', api: 0, slot: 1, subslot: 1, index: 0x007b, length: 64 };
    t.equal(evaluateRecord(p, PEER, 'rio-1', r, new Date()).effect, 'deny', 'user index 0x007B is not allowed');
  },
);
