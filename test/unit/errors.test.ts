import t from 'tap';
import {
  GatewayError,
  Outcomes,
  exceptionFor,
  isGatewayError,
  ErrorCodes,
  type Outcome,
} from '../../gateway/errors.js';
import { answerFor } from '../../gateway/frontdoor/request-events.js';

t.test('GatewayError carries a stable code and cause', async (t) => {
  const cause = new Error('disk');
  const err = new GatewayError('GW_ERR_AUDIT_WRITE', 'audit: cannot append', { cause });
  t.equal(err.code, 'GW_ERR_AUDIT_WRITE');
  t.equal(err.cause, cause);
  t.ok(isGatewayError(err));
  t.notOk(isGatewayError(new Error('x')));
  t.ok(ErrorCodes[err.code].startsWith('audit:'));
});

t.test('outcomes map to the Modbus exceptions the spec requires', async (t) => {
  t.equal(exceptionFor('denied'), 0x01);
  t.equal(exceptionFor('no-route'), 0x0a);
  t.equal(exceptionFor('timeout'), 0x0b);
  t.equal(exceptionFor('ok'), null);
});

t.test('every outcome has its wire answer in the one table', async (t) => {
  const expected: Record<Outcome, number | null> = {
    ok: null,
    denied: 0x01,
    'no-route': 0x0a,
    'invalid-request': 0x03, // the decoder's own 02/03 is answered; the table holds the fallback
    'upstream-unavailable': 0x0a,
    'queue-full': 0x0a,
    timeout: 0x0b,
    'timeout-unsent': 0x0b,
    'no-answer': 0x0b,
    'plc-exception': null, // the PLC's own answer is passed through
    'audit-unavailable': 0x06,
    aborted: 0x0a,
    'internal-error': 0x04,
  };
  t.same(Object.keys(Outcomes).sort(), Object.keys(expected).sort(), 'no outcome without an expected answer');
  for (const [outcome, code] of Object.entries(expected) as [Outcome, number | null][]) {
    t.equal(exceptionFor(outcome), code, outcome);
    if (code !== null) t.same([...answerFor(6, outcome)], [0x86, code], `${outcome} on the wire`);
  }
});
