/**
 * Verdicts of chains this process verified itself, so a client that handshakes again with the same SVID costs a
 * digest and a lookup instead of a signature check (the same few SVIDs reconnect all day). An object the
 * composition root creates and hands to one verifier — never module state: two verifiers (or two tests) never
 * share entries, and a test can read its counters.
 *
 * A hit requires all of: the same leaf, the same whole chain byte for byte, the SAME BundleSet object (a new
 * Workload API snapshot makes a new BundleSet, so a bundle change re-verifies everything), and `now` inside the
 * validity of every certificate on the verified path (outside it, full verification names the reason). The
 * verdict depends on nothing else, so a hit returns exactly what verification would. Only successes are kept.
 *
 * A TLS front door asks by the leaf alone first (`getByLeaf`, once the handshake proved the client holds its key).
 * It also serves TLS resumption: OpenSSL keeps only the peer's leaf in a resumed session, so the chain
 * verified at the full handshake (leaf + intermediates) is looked up by its leaf, within the resumption window
 * after its last successful verification.
 * Bounded: least recently used out at `maxEntries`.
 */
import { createHash, type X509Certificate } from 'node:crypto';
import type { BundleSet } from './bundle-set.js';

export interface VerifiedChainCacheOptions {
  /** Most chains kept; the least recently used goes first. Default 2048 (a few MB at most). */
  readonly maxEntries?: number;
  /** How long after its last successful verification a chain may stand in for a resumed session's leaf.
   * Default the server's TLS `sessionTimeout`, 300 s. */
  readonly resumptionWindowMs?: number;
}

export interface VerifiedChainCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly evictions: number;
  readonly entries: number;
}

/** The validity window shared by every certificate on the verified path (trust anchor included), in ms. */
export interface ValidityWindow {
  readonly from: number;
  readonly until: number;
}

/** A verdict kept for a leaf, and the whole chain (leaf first) it was reached on. */
export interface KnownChain<V> {
  readonly verdict: V;
  readonly chain: readonly X509Certificate[];
}

interface Entry<V> {
  readonly chain: readonly X509Certificate[];
  readonly bundles: BundleSet;
  readonly verdict: V;
  readonly window: ValidityWindow;
  readonly verifiedAt: number;
}

const DEFAULT_VERIFIED_CHAINS = 2048;
const DEFAULT_RESUMPTION_WINDOW_MS = 300_000;

/** `V` is the verdict kept per chain (peer-verifier.ts keeps its PeerIdentity). */
export class VerifiedChainCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private readonly max: number;
  private readonly resumptionWindowMs: number;
  private counts = { hits: 0, misses: 0, evictions: 0 };

  constructor(opts: VerifiedChainCacheOptions = {}) {
    this.max = Math.max(1, opts.maxEntries ?? DEFAULT_VERIFIED_CHAINS);
    this.resumptionWindowMs = opts.resumptionWindowMs ?? DEFAULT_RESUMPTION_WINDOW_MS;
  }

  /** The verdict for exactly this chain under `bundles` at `nowMs`, or undefined (counted as a miss). */
  get(chain: readonly X509Certificate[], bundles: BundleSet, nowMs: number): V | undefined {
    const leaf = chain[0];
    const key = leaf === undefined ? undefined : keyOf(leaf);
    const e = key === undefined ? undefined : this.entries.get(key);
    if (
      key === undefined ||
      e === undefined ||
      e.bundles !== bundles ||
      !sameChain(e.chain, chain) ||
      nowMs < e.window.from ||
      nowMs > e.window.until
    ) {
      this.counts.misses++;
      return undefined;
    }
    this.counts.hits++;
    this.entries.delete(key); // most recently used goes last; a hit counts as a verification at nowMs
    this.entries.set(key, { ...e, verifiedAt: nowMs });
    return e.verdict;
  }

  /**
   * For a TLS peer whose presented chain OpenSSL has just verified against the trusted authorities: the verdict
   * kept for a chain with exactly this leaf (DER) under `bundles`, with `nowMs` inside that path's validity —
   * whatever intermediates came this time. Sound because the verdict is a property of the leaf: that path from
   * it to an authority of its own trust domain's bundle exists and is valid now [RFC 5280 6.1: a path, not the
   * one the peer happened to send], and the current handshake proved possession of its key. It saves reading the
   * chain off the socket (Node duplicates every certificate after the leaf through OpenSSL 3's decoder). A
   * resumed session is not verified by OpenSSL again: use `chainForResumption` for it. Counts a hit only; the
   * full verification that follows a miss counts the miss. Also returns the chain that was verified, which the
   * session then stands on (re-verified when the bundles change, frontdoor/live-chains.ts).
   */
  getByLeaf(leafDer: Buffer, bundles: BundleSet, nowMs: number): KnownChain<V> | undefined {
    const key = keyOfDer(leafDer);
    const e = this.entries.get(key);
    if (
      e === undefined ||
      e.bundles !== bundles ||
      !(e.chain[0] as X509Certificate).raw.equals(leafDer) ||
      nowMs < e.window.from ||
      nowMs > e.window.until
    )
      return undefined;
    this.counts.hits++;
    this.entries.delete(key);
    this.entries.set(key, { ...e, verifiedAt: nowMs });
    return { verdict: e.verdict, chain: e.chain };
  }

  /** Keeps a successful verification. */
  set(chain: readonly X509Certificate[], bundles: BundleSet, verdict: V, window: ValidityWindow, nowMs: number): void {
    const leaf = chain[0];
    if (leaf === undefined) return;
    const key = keyOf(leaf);
    this.entries.delete(key);
    if (this.entries.size >= this.max) {
      this.entries.delete(this.entries.keys().next().value as string);
      this.counts.evictions++;
    }
    this.entries.set(key, { chain: [...chain], bundles, verdict, window, verifiedAt: nowMs });
  }

  /**
   * For a resumed session that exposes fewer certificates than were verified at its full handshake: that
   * longer chain, when verified within the resumption window; otherwise the chain as presented.
   */
  chainForResumption(presented: readonly X509Certificate[], nowMs: number): readonly X509Certificate[] {
    const leaf = presented[0];
    const e = leaf === undefined ? undefined : this.entries.get(keyOf(leaf));
    if (e === undefined || e.chain.length <= presented.length || nowMs - e.verifiedAt > this.resumptionWindowMs)
      return presented;
    return sameChain(e.chain.slice(0, presented.length), presented) ? e.chain : presented;
  }

  stats(): VerifiedChainCacheStats {
    return { ...this.counts, entries: this.entries.size };
  }
}

function keyOf(leaf: X509Certificate): string {
  return keyOfDer(leaf.raw);
}

function keyOfDer(der: Buffer): string {
  return createHash('sha256').update(der).digest('base64');
}

function sameChain(a: readonly X509Certificate[], b: readonly X509Certificate[]): boolean {
  return a.length === b.length && a.every((c, i) => c === b[i] || c.raw.equals((b[i] as X509Certificate).raw));
}
