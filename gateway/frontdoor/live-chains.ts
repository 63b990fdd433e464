/**
 * The verified chains live sessions stand on, so that a change of the trust bundles judges every live session
 * again instead of letting it run to its SVID's NotAfter: a CA removed from the bundle of the peer's trust domain,
 * or a federated trust domain dropped, ends the sessions whose chain no longer leads to it ('bundle-revoked').
 * Zero trust judges a session while it lasts [NIST SP 800-207 3.3.1], and a peer chain is only as good as the CA
 * bundle of its trust domain it is validated against [X509-SVID 5.1]; without revocation lists (peer-verifier.ts)
 * a CA dropped from a Workload API snapshot (what is absent was withdrawn) is the revocation the gateway gets.
 *
 * One entry per distinct client leaf (its SHA-256 fingerprint), not per session: the sessions of one SVID (a
 * poller reconnecting, an HMI with many connections) share one chain and one verification, and only one parsed
 * chain per SVID is kept in memory (identity/peer-chain.ts says why a session does not keep its own). One chain per
 * leaf is enough: if it verifies under the new bundles, a path from that leaf to a current authority exists and
 * every session of the leaf proved it holds the leaf's key at its handshake, so none of them should end; if it
 * does not, a session of the same leaf that sent other intermediates ends too and reconnects (fail closed).
 *
 * Bounded work: `recheck` runs on a bundle change only (the composition root subscribes it), never on a request
 * path. Each distinct chain costs one verification by the handshake's own verifier (path building with its
 * signature and step budget, identity/path-builder.ts): about one signature check per certificate on the path,
 * a fraction of a millisecond. So even thousands of sessions cost only as many checks as there are distinct SVIDs,
 * and those are judged `batch` at a time with a turn of the event loop between batches, so requests and
 * handshakes are served in between. A newer bundle change supersedes a run still in progress (it judges every
 * chain against the newer bundles anyway).
 */
import type { X509Certificate } from 'node:crypto';
import type { ChainCheck } from '../identity/peer-check.js';
import type { SessionEndReason } from '../reasons.js';

/** The `session.close` reason of a session whose chain no longer verifies after a bundle change. */
export const BUNDLE_REVOKED: SessionEndReason = 'bundle-revoked';

/** What a recheck ends: a live session (frontdoor/session.ts). */
export interface ChainHolder {
  readonly peer: { readonly id: string };
  readonly isOpen: boolean;
  end(reason: string): void;
}

/** Chains judged per turn: at well under a millisecond each, a batch keeps a turn to some tens of ms. */
const DEFAULT_BATCH = 64;

export interface LiveChainsOptions {
  /** Distinct chains verified per event-loop turn (default 64). */
  readonly batch?: number;
  /** Yields to the event loop between batches; default `setImmediate` (a turn, not a delay). */
  readonly nextTurn?: () => Promise<void>;
}

export interface RevokedChain {
  readonly fingerprint: string;
  readonly identity: string;
  /** The verifier's reject reason and detail (e.g. `no-bundle-for-trust-domain`, `untrusted-chain`). */
  readonly reason: string;
  readonly detail: string;
  readonly sessions: number;
}

export interface RecheckReport {
  /** Distinct chains verified. */
  readonly chains: number;
  readonly revoked: readonly RevokedChain[];
  /** Sessions ended with 'bundle-revoked'. */
  readonly ended: number;
  /** A newer bundle change began before this run finished; that run judges every chain. */
  readonly superseded: boolean;
}

interface Entry<S> {
  readonly chain: readonly X509Certificate[];
  readonly sessions: Set<S>;
}

export class LiveChains<S extends ChainHolder = ChainHolder> {
  private readonly byLeaf = new Map<string, Entry<S>>();
  private readonly batch: number;
  private readonly nextTurn: () => Promise<void>;
  private run = 0;

  constructor(opts: LiveChainsOptions = {}) {
    this.batch = Math.max(1, opts.batch ?? DEFAULT_BATCH);
    this.nextTurn = opts.nextTurn ?? (() => new Promise<void>((resolve) => setImmediate(resolve)));
  }

  /** A session opened on `chain` (leaf first; `fingerprint` its leaf's). The first chain of a leaf is kept. */
  add(fingerprint: string, chain: readonly X509Certificate[], session: S): void {
    const known = this.byLeaf.get(fingerprint);
    if (known !== undefined) known.sessions.add(session);
    else this.byLeaf.set(fingerprint, { chain, sessions: new Set([session]) });
  }

  /** The session closed; the last one of a leaf drops its chain. */
  remove(fingerprint: string, session: S): void {
    const e = this.byLeaf.get(fingerprint);
    if (e === undefined || !e.sessions.delete(session) || e.sessions.size > 0) return;
    this.byLeaf.delete(fingerprint);
  }

  /** Distinct chains held (one per client SVID in use). */
  get size(): number {
    return this.byLeaf.size;
  }

  /**
   * Verifies every distinct chain once with `check` (the handshake's verifier under the current bundles) and ends
   * the sessions of each one that fails. Resolves when done, or as soon as a newer recheck began.
   */
  async recheck(check: (chain: readonly X509Certificate[]) => ChainCheck): Promise<RecheckReport> {
    const run = ++this.run;
    const work = [...this.byLeaf];
    const revoked: RevokedChain[] = [];
    let chains = 0;
    let ended = 0;
    for (const [i, [fingerprint, entry]] of work.entries()) {
      if (i > 0 && i % this.batch === 0) {
        await this.nextTurn();
        if (run !== this.run) return { chains, revoked, ended, superseded: true };
      }
      if (this.byLeaf.get(fingerprint) !== entry) continue; // its sessions closed meanwhile
      chains++;
      const v = check(entry.chain);
      if (v.ok) continue;
      const sessions = [...entry.sessions].filter((s) => s.isOpen); // one already ending keeps its reason
      if (sessions.length === 0) continue;
      const identity = (sessions[0] as S).peer.id;
      revoked.push({ fingerprint, identity, reason: v.reason, detail: v.detail, sessions: sessions.length });
      for (const s of sessions) s.end(BUNDLE_REVOKED);
      ended += sessions.length;
    }
    return { chains, revoked, ended, superseded: false };
  }
}
