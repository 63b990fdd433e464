/**
 * Parses a Workload API endpoint address [SPIFFE_Workload_Endpoint 4]: `unix:///absolute/path` or
 * `tcp://<ip>:<port>`. Validated here because grpc-js silently accepts mistakes such as `unix://tmp/x.sock`
 * (authority `tmp`, path `/x.sock`). Rules follow go-spiffe workloadapi/addr.go.
 */
import { isIP } from 'node:net';
import { GatewayError } from '../errors.js';

export type EndpointAddress =
  { kind: 'unix'; path: string; target: string } | { kind: 'tcp'; host: string; port: number; target: string };

/** Environment variable holding the default address [SPIFFE_Workload_Endpoint 4]. */
export const ENDPOINT_SOCKET_ENV = 'SPIFFE_ENDPOINT_SOCKET';

function fail(addr: string, why: string): never {
  throw new GatewayError('GW_ERR_ENDPOINT_ADDRESS', `identity: workload endpoint address "${addr}" ${why}`);
}

/** The configured default address from SPIFFE_ENDPOINT_SOCKET, or undefined when unset/empty. */
export function defaultEndpointAddress(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const v = env[ENDPOINT_SOCKET_ENV];
  return v === undefined || v === '' ? undefined : v;
}

/** Parses `s`, or SPIFFE_ENDPOINT_SOCKET when `s` is omitted. Throws GW_ERR_ENDPOINT_ADDRESS. */
export function parseEndpointAddress(s?: string): EndpointAddress {
  const addr = s ?? defaultEndpointAddress();
  if (addr === undefined) {
    throw new GatewayError(
      'GW_ERR_ENDPOINT_ADDRESS',
      `identity: no workload endpoint address given and ${ENDPOINT_SOCKET_ENV} is not set`,
    );
  }
  let url: URL;
  try {
    url = new URL(addr);
  } catch {
    return fail(addr, 'is not a URI (expected unix:///abs/path or tcp://IP:PORT)');
  }
  if (url.username !== '' || url.password !== '') fail(addr, 'must not include user info');
  if (url.search !== '' || addr.includes('?')) fail(addr, 'must not include query values');
  if (url.hash !== '' || addr.includes('#')) fail(addr, 'must not include a fragment');
  if (url.protocol === 'unix:') return parseUnix(addr, url);
  if (url.protocol === 'tcp:') return parseTcp(addr, url);
  return fail(addr, `has scheme "${url.protocol.slice(0, -1)}"; it must be "unix" or "tcp"`);
}

function parseUnix(addr: string, url: URL): EndpointAddress {
  // `unix:/abs` is accepted by go-spiffe too; `unix:rel` (opaque) and `unix://host/...` are not.
  if (!addr.startsWith('unix:/')) fail(addr, 'must use an absolute path: unix:///abs/path');
  if (url.host !== '') {
    fail(addr, `must not include an authority ("${url.host}"); did you mean unix:///${url.host}${url.pathname}?`);
  }
  const path = decodeURIComponent(url.pathname);
  if (path === '' || path === '/' || path.endsWith('/')) fail(addr, 'must name a socket file path');
  return { kind: 'unix', path, target: `unix:${path}` };
}

function parseTcp(addr: string, url: URL): EndpointAddress {
  if (url.pathname !== '' && url.pathname !== '/') fail(addr, 'must not include a path (tcp://IP:PORT)');
  if (addr.endsWith('/')) fail(addr, 'must not include a path (tcp://IP:PORT)');
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const family = isIP(host);
  if (family === 0) fail(addr, `host "${url.hostname}" must be an IP address, not a name`);
  if (url.port === '') fail(addr, 'must include a port (tcp://IP:PORT)');
  const port = Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(addr, `port "${url.port}" is out of range`);
  const target = family === 6 ? `ipv6:[${host}]:${port}` : `ipv4:${host}:${port}`;
  return { kind: 'tcp', host, port, target };
}
