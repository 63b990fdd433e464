/**
 * The gateway's own identity, assembled for the composition root: an X509Source on the Workload API (a real
 * SPIRE agent, or the embedded dev issuer serving the same protocol on a private socket), the TLS options
 * built from the current SVID, and peer verification against the current bundles.
 */
import type { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import type tls from 'node:tls';
import type { Logger } from 'pino';
import type { GatewayConfig } from './config/gateway-config.js';
import { DevCa } from './identity/dev-ca.js';
import { DevIssuer } from './identity/dev-issuer.js';
import { X509Source } from './identity/x509-source.js';
import { serverTlsOptions, verifySocketPeer, type ServerTlsExtras } from './identity/tls-options.js';
import { PeerVerifier, type PeerVerifyResult } from './identity/peer-verifier.js';
import { VerifiedChainCache } from './identity/verified-chain-cache.js';
import { handshakeFailureReason } from './identity/tls-failure-reason.js';
import type { ChainCheck, PeerCheck, VerifiedPeer } from './identity/peer-check.js';
import { systemTimers, type Timers } from './timers.js';

export interface GatewayIdentity {
  readonly source: X509Source;
  spiffeId(): string;
  serverTlsOptions(extras?: ServerTlsExtras): tls.TlsOptions;
  verifyPeer(socket: tls.TLSSocket): PeerCheck;
  /** A live session's verified chain judged again, under the current bundles and clock (the same verifier). */
  recheckChain(chain: readonly X509Certificate[]): ChainCheck;
  /** Server side: the reason code of a failed client handshake (tls-failure-reason.ts). */
  tlsErrorReason(err: Error, socket?: tls.TLSSocket): string;
  /** false while the SVID is failed closed: the listeners then offer no TLS identity at all. */
  available(): boolean;
  onUpdate(handler: () => void): void;
  /** Called on a Workload API update whose bundles differ from the last ones (an SVID rotation alone is not). */
  onBundlesChanged(handler: () => void): void;
  close(): Promise<void>;
}

/** `timers`: the SVID source's (and dev issuer's) clock and timers (gateway/timers.ts); default systemTimers. */
export async function startIdentity(
  config: GatewayConfig,
  logger: Logger,
  timers: Timers = systemTimers,
): Promise<GatewayIdentity> {
  const issuer = await startDevIssuer(config, logger, timers);
  const address = issuer ? `unix://${issuer.socketPath}` : (config.identity.socket ?? undefined);
  let source: X509Source;
  try {
    source = await X509Source.create({
      ...(address ? { address } : {}),
      timeoutMs: config.identity.startupTimeoutMs,
      logger,
      timers,
    });
  } catch (err) {
    await issuer?.issuer.close();
    throw err;
  }
  return gatewayIdentity(source, issuer?.issuer ?? null, timers);
}

/** `identity.source: dev`: the embedded issuer serving the Workload API on a private socket in the state dir. */
async function startDevIssuer(
  config: GatewayConfig,
  logger: Logger,
  timers: Timers,
): Promise<{ issuer: DevIssuer; socketPath: string } | null> {
  const dev = config.identity.dev;
  if (config.identity.source !== 'dev' || !dev) return null;
  const ca = await DevCa.loadOrCreate(dev.caDir, dev.trustDomain);
  const socketPath = join(config.stateDir, 'dev-workload-api.sock');
  const issuer = await DevIssuer.start({
    socketPath,
    ca,
    spiffeId: dev.spiffeId,
    ttlSeconds: Math.round(dev.svidTtlMs / 1000),
    dnsNames: dev.dnsNames,
    logger,
    timers,
  });
  return { issuer, socketPath };
}

function gatewayIdentity(source: X509Source, issuer: DevIssuer | null, timers: Timers): GatewayIdentity {
  // One verified-chain cache for this gateway's listeners, owned here (not module state).
  const verifier = new PeerVerifier(new VerifiedChainCache());
  return {
    source,
    spiffeId: () => source.getX509Svid().id.toString(),
    serverTlsOptions: (extras) => serverTlsOptions(source.getX509Svid(), extras),
    verifyPeer: (socket) => verifyPeer(socket, source, verifier, timers),
    recheckChain: (chain) => verifier.verify(chain, source.getBundleSet(), new Date(timers.now())),
    tlsErrorReason: (err, socket) => handshakeFailureReason(err, socket),
    available: () => source.state() !== 'failed-closed',
    onUpdate: (handler) => {
      source.on('update', handler);
    },
    onBundlesChanged: (handler) => {
      let trusted = source.getBundleSet();
      source.on('update', (_svid, bundles) => {
        if (bundles.sameAuthorities(trusted)) return;
        trusted = bundles;
        handler();
      });
    },
    close: async () => {
      source.close();
      await issuer?.close();
    },
  };
}

function verifyPeer(socket: tls.TLSSocket, source: X509Source, verifier: PeerVerifier, timers: Timers): PeerCheck {
  // the gateway's clock (gateway/timers.ts): certificate validity is judged on the same time as session expiry
  const v = verifySocketPeer(socket, source.getBundleSet(), new Date(timers.now()), verifier);
  return v.result.ok ? { ok: true, peer: verifiedPeer(v.result), chain: v.chain } : v.result;
}

function verifiedPeer(r: PeerVerifyResult & { ok: true }): VerifiedPeer {
  const p = r.peer;
  return {
    id: p.id.toString(),
    role: p.role,
    notAfter: p.notAfter,
    notBefore: p.notBefore,
    fingerprint256: p.fingerprint256,
  };
}
