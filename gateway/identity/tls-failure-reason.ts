/**
 * Why a client's TLS handshake failed, as seen by OUR server ('tlsClientError'), as a reason code an operator
 * can alert on. `untrusted-chain` is the alert for forged or foreign chains, so it is kept for chain failures
 * only; everything that is not about the client's certificate gets its own code:
 *   tls-version       the client offers only versions we refuse (TLS < 1.2) [MB-TCP-SEC R-03]
 *   no-shared-cipher  no cipher suite / group / signature algorithm in common [MB-TCP-SEC R-06..R-08]
 *   not-tls           bytes that are not TLS on the TLS port: plain Modbus/TCP, HTTP, a scanner
 *   handshake-timeout Node's (idle) handshake timer fired (the guard's absolute deadline reports the same code)
 *   client-refused-gateway-cert  the client sent an alert about OUR certificate (unknown CA, expired, …)
 *   peer-alert        any other fatal alert from the client
 *   handshake-aborted the client hung up mid-handshake without a verification failure on our side
 *   tls-error         anything else OpenSSL refused
 * Certificate failures keep the SPIFFE verifier's codes (no-certificate, expired, untrusted-chain, …).
 * Note: on the server side an `ERR_SSL_*_ALERT_*` code is an alert RECEIVED from the client, so
 * ALERT_UNKNOWN_CA means the client distrusts us — not that the client's chain is untrusted.
 */
import type { RejectReason } from './peer-verifier.js';
import { certificateReasonForCode, isRejectReason } from './tls-options.js';

export type HandshakeFailureReason =
  | RejectReason
  | 'handshake-timeout'
  | 'tls-version'
  | 'no-shared-cipher'
  | 'not-tls'
  | 'client-refused-gateway-cert'
  | 'peer-alert'
  | 'handshake-aborted'
  | 'tls-error';

const BY_CODE: Readonly<Record<string, HandshakeFailureReason>> = {
  ERR_TLS_HANDSHAKE_TIMEOUT: 'handshake-timeout',
  ERR_SSL_UNSUPPORTED_PROTOCOL: 'tls-version',
  ERR_SSL_NO_PROTOCOLS_AVAILABLE: 'tls-version',
  ERR_SSL_VERSION_TOO_LOW: 'tls-version',
  ERR_SSL_VERSION_TOO_HIGH: 'tls-version',
  ERR_SSL_WRONG_SSL_VERSION: 'tls-version',
  ERR_SSL_UNSUPPORTED_SSL_VERSION: 'tls-version',
  ERR_SSL_INAPPROPRIATE_FALLBACK: 'tls-version',
  ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION: 'tls-version',
  ERR_SSL_TLSV1_ALERT_INAPPROPRIATE_FALLBACK: 'tls-version',
  ERR_SSL_NO_SHARED_CIPHER: 'no-shared-cipher',
  ERR_SSL_NO_SHARED_GROUPS: 'no-shared-cipher',
  ERR_SSL_NO_SUITABLE_KEY_SHARE: 'no-shared-cipher',
  ERR_SSL_NO_SHARED_SIGNATURE_ALGORITHMS: 'no-shared-cipher',
  ERR_SSL_NO_SUITABLE_SIGNATURE_ALGORITHM: 'no-shared-cipher',
  ERR_SSL_NO_CIPHERS_AVAILABLE: 'no-shared-cipher',
  ERR_SSL_TLSV1_ALERT_INSUFFICIENT_SECURITY: 'no-shared-cipher',
  ERR_SSL_WRONG_VERSION_NUMBER: 'not-tls',
  ERR_SSL_HTTP_REQUEST: 'not-tls',
  ERR_SSL_HTTPS_PROXY_REQUEST: 'not-tls',
  ERR_SSL_PACKET_LENGTH_TOO_LONG: 'not-tls',
  ERR_SSL_RECORD_LENGTH_MISMATCH: 'not-tls',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: 'client-refused-gateway-cert',
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'client-refused-gateway-cert',
  ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE: 'client-refused-gateway-cert',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED: 'client-refused-gateway-cert',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: 'client-refused-gateway-cert',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN: 'client-refused-gateway-cert',
};

const ALERT = /^ERR_SSL_(SSLV3|TLSV1|TLSV13)_ALERT_/;

/** Server side: maps a 'tlsClientError' (and the socket, whose `authorizationError` holds a verify failure). */
export function handshakeFailureReason(
  err: unknown,
  socket?: { authorizationError?: unknown },
): HandshakeFailureReason {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'handshake-timeout';
  // A verify error on our side: the client's chain failed (OpenSSL code → SPIFFE reason; unknown → untrusted).
  const authz = socket?.authorizationError;
  if (typeof authz === 'string' && authz !== '') return certificateReasonForCode(authz) ?? 'untrusted-chain';
  const spiffeReason = (err as { reason?: unknown } | null)?.reason;
  if (
    (err as { code?: unknown } | null)?.code === 'ERR_SPIFFE_PEER' &&
    typeof spiffeReason === 'string' &&
    isRejectReason(spiffeReason)
  )
    return spiffeReason;
  if (typeof code === 'string') {
    if (Object.hasOwn(BY_CODE, code)) return BY_CODE[code] as HandshakeFailureReason;
    if (ALERT.test(code)) return 'peer-alert';
    const cert = certificateReasonForCode(code);
    if (cert !== undefined) return cert;
  }
  const msg = err instanceof Error ? err.message : '';
  if (/peer did not return a certificate|certificate required/i.test(msg)) return 'no-certificate';
  if (/wrong version number|http request/i.test(msg)) return 'not-tls';
  if (/no shared cipher/i.test(msg)) return 'no-shared-cipher';
  if (/unsupported protocol/i.test(msg)) return 'tls-version';
  if (code === 'ECONNRESET' || code === 'EPIPE' || /socket hang up/i.test(msg)) return 'handshake-aborted';
  return 'tls-error';
}
