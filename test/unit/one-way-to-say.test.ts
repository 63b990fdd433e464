/**
 * One way to say each thing (issue 12 item 2): one Logger type and one nullLogger (gateway/logger.ts), one
 * errorMessage() (gateway/errors.ts), one table of policy reason codes whose audit text is made by one function
 * (gateway/reasons.ts), one table of peer-chain reject reasons. The last test reads the source: a second logger
 * shape, a private silent logger or an `(err as Error).message` cast fails it.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { errorMessage } from '../../gateway/errors.js';
import { nullLogger } from '../../gateway/logger.js';
import {
  POLICY_REASON_CODES,
  SESSION_END_REASONS,
  isPolicyReasonCode,
  reasonCode,
  reasonText,
} from '../../gateway/reasons.js';
import { REJECT_REASONS } from '../../gateway/identity/peer-verifier.js';
import { isRejectReason } from '../../gateway/identity/tls-options.js';
import { compilePolicyText, evaluate } from '../../gateway/policy/index.js';
import { classify } from '../../protocols/modbus/index.js';

t.test('errorMessage: the message of anything thrown', async (t) => {
  t.equal(errorMessage(new Error('disk full')), 'disk full');
  t.equal(errorMessage(new TypeError('x is not a function')), 'x is not a function');
  t.equal(errorMessage('plain string'), 'plain string');
  t.equal(errorMessage(42), '42');
  t.equal(errorMessage(undefined), 'undefined');
  t.equal(errorMessage({ code: 'E' }), '[object Object]');
});

t.test('nullLogger: every level, no output, cannot be changed', async (t) => {
  for (const level of ['debug', 'info', 'warn', 'error'] as const)
    t.equal(nullLogger[level]({ a: 1 }, 'm'), undefined, level);
  t.ok(Object.isFrozen(nullLogger));
});

t.test('reason text: `<code> <detail>` or the code alone, and back', async (t) => {
  t.equal(reasonText('no-rule', ''), 'no-rule');
  t.equal(reasonText('address-not-allowed', 'write holding:110'), 'address-not-allowed write holding:110');
  t.equal(reasonCode('address-not-allowed write holding:110'), 'address-not-allowed');
  t.equal(reasonCode('no-rule'), 'no-rule');
  t.ok(isPolicyReasonCode('explicit-deny'));
  t.notOk(isPolicyReasonCode('locked'), "runtime reasons are not the policy's");
});

t.test('every decision carries a code of the table, and its reason is the text of code and detail', async (t) => {
  const p = compilePolicyText(
    `version: 1
trustDomain: plant.example
rules:
  - id: hmi
    principals: [spiffe://plant.example/hmi/*]
    devices: [turbine-1]
    allow:
      - { access: write, table: holding, addresses: 100-109, values: 0..3600 }
      - { access: read, table: holding, addresses: 0-199 }
  - id: freeze
    effect: deny
    principals: [spiffe://plant.example/hmi/*]
    devices: [turbine-1]
    deny: [{ access: write, table: holding, addresses: 105 }]
`,
    'reasons.yaml',
  );
  const hmi = { id: 'spiffe://plant.example/hmi/1', role: null };
  const now = new Date('2026-03-04T10:00:00Z');
  const cases = [
    [classify({ type: 'read-registers', fc: 3, address: 0, quantity: 2 }, 1), 'allowed', ''],
    [
      classify({ type: 'read-registers', fc: 3, address: 199, quantity: 2 }, 1),
      'address-not-allowed',
      'read holding:200',
    ],
    [
      classify({ type: 'write-single-register', fc: 6, address: 100, value: 9999 }, 1),
      'value-not-allowed',
      'holding:100=9999',
    ],
    [
      classify({ type: 'write-single-register', fc: 6, address: 105, value: 1 }, 1),
      'explicit-deny',
      'write holding:105',
    ],
    [
      classify({ type: 'diagnostics', fc: 8, subFunction: 1, data: Buffer.from([0, 0]) }, 1),
      'function-not-allowed',
      'fc:8/1',
    ],
    [classify({ type: 'write-single-register', fc: 6, address: 100, value: 1 }, 0), 'broadcast-not-allowed', ''],
  ] as const;
  for (const [req, code, detail] of cases) {
    const d = evaluate(p, hmi, 'turbine-1', req, now);
    t.match(d, { code, detail, reason: reasonText(code, detail) }, code);
    t.ok((POLICY_REASON_CODES as readonly string[]).includes(d.code));
  }
  t.match(evaluate(p, { id: 'spiffe://plant.example/x', role: null }, 'turbine-1', cases[0][0], now), {
    code: 'no-rule',
    detail: '',
    reason: 'no-rule',
  });
});

t.test('peer-chain reject reasons: one table, the guard knows exactly its entries', async (t) => {
  for (const r of REJECT_REASONS) t.ok(isRejectReason(r), r);
  t.notOk(isRejectReason('handshake-timeout'));
  t.equal(new Set(REJECT_REASONS).size, REJECT_REASONS.length);
});

t.test('the source says each of these one way', async (t) => {
  const root = resolve(import.meta.dirname, '../..');
  const files = readdirSync(join(root, 'gateway'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(root, join(e.parentPath, e.name)));
  t.ok(files.length > 100, `${files.length} gateway files`);
  const found = (re: RegExp, except: string[] = []): string[] =>
    files.filter((f) => !except.includes(f) && re.test(readFileSync(join(root, f), 'utf8')));
  t.same(found(/interface \w*Logger\b/, ['gateway/logger.ts']), [], 'one Logger type');
  t.same(
    found(/(silent|noop|quiet)Logger\b|const \w*Logger\w*\s*[:=][^;]*\{\s*(debug|info|warn|error)\(\)\s*\{\s*\}/),
    [],
    'one nullLogger',
  );
  t.same(found(/as Error\)\??\.message/), [], 'errorMessage() instead of casts');
  t.same(
    found(/function (errMsg|errorMessage|messageOf)\(/, ['gateway/errors.ts']),
    [],
    'no private errorMessage copy',
  );
});

t.test('session end reasons: one table, each in the session lifecycle table of docs/zero-trust.md', async (t) => {
  const doc = readFileSync(resolve(import.meta.dirname, '../../docs/zero-trust.md'), 'utf8');
  const lifecycle = doc.slice(doc.indexOf('## Session lifecycle'), doc.indexOf('### Trust bundle changes'));
  t.equal(new Set(SESSION_END_REASONS).size, SESSION_END_REASONS.length);
  for (const r of SESSION_END_REASONS) t.match(lifecycle, `| \`${r}\` |`, r);
});
