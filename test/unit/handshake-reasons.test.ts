/**
 * Server-side reason codes of failed handshakes (tls-failure-reason.ts): only chain failures are
 * `untrusted-chain`; version, cipher, plaintext, timeout, peer alerts and hang-ups have their own codes. Plus
 * the gateway.yaml knobs of the handshake guard: defaults, the gRPC deadline, and semantic checks.
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadGatewayConfig } from '../../gateway/config/gateway-config.js';
import { handshakeFailureReason } from '../../gateway/identity/tls-failure-reason.js';

const err = (code: string | undefined, message = 'x'): Error => Object.assign(new Error(message), code ? { code } : {});

t.test('handshakeFailureReason', async (t) => {
  const table: Array<[Error | null, { authorizationError?: unknown } | undefined, string]> = [
    [err('ERR_TLS_HANDSHAKE_TIMEOUT'), undefined, 'handshake-timeout'],
    [err('ECONNRESET', 'socket hang up'), { authorizationError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, 'untrusted-chain'],
    [err('ECONNRESET', 'socket hang up'), { authorizationError: 'CERT_HAS_EXPIRED' }, 'expired'],
    [err('ECONNRESET', 'socket hang up'), { authorizationError: 'CERT_NOT_YET_VALID' }, 'not-yet-valid'],
    [err('ECONNRESET', 'socket hang up'), { authorizationError: 'SOME_FUTURE_VERIFY_CODE' }, 'untrusted-chain'],
    [err('ECONNRESET', 'socket hang up'), { authorizationError: null }, 'handshake-aborted'],
    [err('ECONNRESET', 'socket hang up'), undefined, 'handshake-aborted'],
    [err('ERR_SSL_UNSUPPORTED_PROTOCOL'), undefined, 'tls-version'],
    [err('ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION'), undefined, 'tls-version'],
    [err('ERR_SSL_NO_SHARED_CIPHER'), undefined, 'no-shared-cipher'],
    [err('ERR_SSL_NO_SHARED_GROUPS'), undefined, 'no-shared-cipher'],
    [err('ERR_SSL_WRONG_VERSION_NUMBER'), undefined, 'not-tls'],
    [err('ERR_SSL_HTTP_REQUEST'), undefined, 'not-tls'],
    [err('ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE'), undefined, 'no-certificate'],
    // On OUR side an alert is what the client sent: unknown_ca means it distrusts the gateway.
    [err('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'), undefined, 'client-refused-gateway-cert'],
    [err('ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED'), undefined, 'client-refused-gateway-cert'],
    [err('ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE'), undefined, 'peer-alert'],
    [err('ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC'), undefined, 'tls-error'],
    [err(undefined, 'something else'), undefined, 'tls-error'],
    [err(undefined, 'error:0A00010B:SSL routines::wrong version number'), undefined, 'not-tls'],
    [err('constructor'), undefined, 'tls-error'],
    [null, undefined, 'tls-error'],
  ];
  for (const [e, sock, want] of table) {
    t.equal(
      handshakeFailureReason(e, sock),
      want,
      `${(e as { code?: string } | null)?.code ?? e?.message ?? 'null'} ${JSON.stringify(sock ?? {})} → ${want}`,
    );
  }
});

const dir = mkdtempSync(join(tmpdir(), 'vg-hs-config-'));
const base = `version: 1
devices:
  - { name: turbine-1, address: 127.0.0.1:5020, unitId: 1 }
policy: { file: policy.yaml }
`;
function load(listeners: string): ReturnType<typeof loadGatewayConfig> {
  const p = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(p, `${base}listeners:\n${listeners}\n`);
  return loadGatewayConfig(p);
}

t.test('gateway.yaml: handshake knobs, defaults and checks', async (t) => {
  const d = load('  grpc: { port: 0 }');
  t.equal(d.listeners.mbaps.handshakeTimeoutMs, 10_000);
  t.equal(d.listeners.grpc?.handshakeTimeoutMs, 10_000, 'gRPC has a handshake deadline too');
  t.equal(d.listeners.maxPendingHandshakes, 256);
  t.equal(d.listeners.maxPendingHandshakesPerSource, 16);
  const c = load(
    '  mbaps: { handshakeTimeout: 3s }\n  grpc: { handshakeTimeout: 1500ms }\n  maxPendingHandshakes: 100\n  maxPendingHandshakesPerSource: 4',
  );
  t.equal(c.listeners.mbaps.handshakeTimeoutMs, 3000);
  t.equal(c.listeners.grpc?.handshakeTimeoutMs, 1500);
  t.equal(c.listeners.maxPendingHandshakes, 100);
  t.equal(c.listeners.maxPendingHandshakesPerSource, 4);
  t.throws(() => load('  maxPendingHandshakes: 4\n  maxPendingHandshakesPerSource: 8'), {
    code: 'GW_ERR_CONFIG_INVALID',
    message: /invalid/,
  });
  t.throws(() => load('  mbaps: { handshakeTimeout: 0s }'), { code: 'GW_ERR_CONFIG_INVALID' });
  t.throws(() => load('  maxPendingHandshakes: 0'), { code: 'GW_ERR_CONFIG_INVALID' });
  t.throws(() => load('  grpc: { handshakeTimeout: soon }'), { code: 'GW_ERR_CONFIG_INVALID' });
});
