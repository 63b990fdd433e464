import t from 'tap';
import { isGatewayError } from '../../gateway/errors.js';
import { defaultEndpointAddress, parseEndpointAddress } from '../../gateway/identity/endpoint-address.js';

const good: [string, object][] = [
  ['unix:///tmp/agent.sock', { kind: 'unix', path: '/tmp/agent.sock', target: 'unix:/tmp/agent.sock' }],
  [
    'unix:/run/spire/sockets/agent.sock',
    { kind: 'unix', path: '/run/spire/sockets/agent.sock', target: 'unix:/run/spire/sockets/agent.sock' },
  ],
  ['unix:///tmp/a%20b.sock', { kind: 'unix', path: '/tmp/a b.sock', target: 'unix:/tmp/a b.sock' }],
  ['tcp://127.0.0.1:8081', { kind: 'tcp', host: '127.0.0.1', port: 8081, target: 'ipv4:127.0.0.1:8081' }],
  ['tcp://[::1]:65535', { kind: 'tcp', host: '::1', port: 65535, target: 'ipv6:[::1]:65535' }],
];

// [address, a fragment the message must contain]
const bad: [string, RegExp][] = [
  ['unix://tmp/x.sock', /authority \("tmp"\).*unix:\/\/\/tmp\/x\.sock/],
  ['unix:tmp/x.sock', /absolute path/],
  ['unix:./x.sock', /absolute path/],
  ['unix:///', /socket file path/],
  ['unix:///tmp/dir/', /socket file path/],
  ['unix:///tmp/x.sock?mode=1', /query/],
  ['unix:///tmp/x.sock#frag', /fragment/],
  ['unix://user@host/tmp/x.sock', /user info/],
  ['tcp://user:pw@127.0.0.1:80', /user info/],
  ['tcp://localhost:8081', /must be an IP address/],
  ['tcp://spire-agent.local:8081', /must be an IP address/],
  ['tcp://127.1:8081', /must be an IP address/],
  ['tcp://127.0.0.1', /must include a port/],
  ['tcp://127.0.0.1:0', /out of range/],
  ['tcp://127.0.0.1:8081/path', /must not include a path/],
  ['tcp://127.0.0.1:8081?x=1', /query/],
  ['http://127.0.0.1:8081', /scheme "http"/],
  ['dns:///agent:8081', /scheme "dns"/],
  ['/tmp/agent.sock', /not a URI/],
  ['', /not a URI/],
];

t.test('accepted addresses and their grpc-js targets', async (t) => {
  for (const [addr, want] of good) t.same(parseEndpointAddress(addr), want, addr);
});

t.test('rejected addresses say why', async (t) => {
  for (const [addr, why] of bad) {
    try {
      parseEndpointAddress(addr);
      t.fail(`accepted ${JSON.stringify(addr)}`);
    } catch (err) {
      t.ok(isGatewayError(err) && err.code === 'GW_ERR_ENDPOINT_ADDRESS', `${addr}: code`);
      t.match((err as Error).message, why, `${addr}: message`);
      t.match((err as Error).message, addr === '' ? /""/ : addr, `${addr}: message names the address`);
    }
  }
});

t.test('default comes from SPIFFE_ENDPOINT_SOCKET', async (t) => {
  t.equal(defaultEndpointAddress({ SPIFFE_ENDPOINT_SOCKET: 'unix:///x/y.sock' }), 'unix:///x/y.sock');
  t.equal(defaultEndpointAddress({ SPIFFE_ENDPOINT_SOCKET: '' }), undefined);
  t.equal(defaultEndpointAddress({}), undefined);
  const saved = process.env['SPIFFE_ENDPOINT_SOCKET'];
  t.teardown(() => {
    if (saved === undefined) delete process.env['SPIFFE_ENDPOINT_SOCKET'];
    else process.env['SPIFFE_ENDPOINT_SOCKET'] = saved;
  });
  process.env['SPIFFE_ENDPOINT_SOCKET'] = 'unix:///run/agent.sock';
  t.same(parseEndpointAddress(), { kind: 'unix', path: '/run/agent.sock', target: 'unix:/run/agent.sock' });
  delete process.env['SPIFFE_ENDPOINT_SOCKET'];
  t.throws(() => parseEndpointAddress(), {
    code: 'GW_ERR_ENDPOINT_ADDRESS',
    message: /SPIFFE_ENDPOINT_SOCKET is not set/,
  });
  process.env['SPIFFE_ENDPOINT_SOCKET'] = 'unix://run/agent.sock';
  t.throws(() => parseEndpointAddress(), { code: 'GW_ERR_ENDPOINT_ADDRESS', message: /authority/ });
});
