import t from 'tap';
import { GatewayError, exceptionFor, isGatewayError, ErrorCodes } from '../../gateway/errors.js';

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
