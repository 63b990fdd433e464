/**
 * What the site-state watch (site-state-watch.ts) hands to the gateway's enforcement for the keys of the
 * local site bucket other than `policy` (docs/fleet.md): locks, grants and the control heartbeat. The watch
 * owns the NATS side (ordering, resume after a reconnect, the initial full sync); the handlers own the
 * meaning (validation of the Lock / Grant shape, the lock and grant services, the staleness clock).
 *
 * Calls arrive in bucket order, one at a time, on the event loop; a handler must not throw (a thrown error is
 * logged and the watch goes on).
 */

/** The control heartbeat (`heartbeat` key): written by `verigate control serve` every second or so. */
export interface FleetHeartbeat {
  /** ISO-8601 time at the control; staleness at a gateway = now − the newest heartbeat's time. */
  readonly time: string;
  readonly seq: number;
  /** SPIFFE ID of the writer. */
  readonly by: string;
}

/** The ids present in the bucket once an initial (or resumed-from-scratch) sync has delivered every key. */
export interface FleetStatePresent {
  readonly locks: ReadonlySet<string>;
  readonly grants: ReadonlySet<string>;
  /**
   * `time` (epoch ms, the control's clock) of the newest heartbeat the sync delivered: the bucket is known
   * complete only up to it. A lock that arrived here after it (fleet-locks.ts) may be missing from this
   * mirror because the mirror is older, not because it was deleted.
   */
  readonly heartbeatTime: number;
}

export interface FleetStateHandlers {
  /**
   * `locks.<id>` was put (`value`: the parsed JSON, of unknown shape until validated — a value that is not
   * JSON arrives as its text) or deleted / purged (`value` null: the lock is removed).
   */
  lock(id: string, value: unknown): void;
  /** `grants.<id>`, as `lock` (a put with status `revoked`, or null, ends the grant). */
  grant(id: string, value: unknown): void;
  /** A new heartbeat (shape checked by the watch; a malformed one is logged and dropped, so staleness grows). */
  heartbeat(value: FleetHeartbeat): void;
  /**
   * The initial sync is complete (after start, or after a resume that had to start over): `present` is every
   * lock and grant in the bucket. A fleet lock or grant held locally but absent here was deleted while this
   * gateway was away: treat it as deleted. Called only once the sync has delivered a control heartbeat at least
   * as new as the newest this gateway knew when the sync began (before that the mirror may be empty, wiped and
   * catching up, or restored from an older snapshot: its word proves nothing).
   */
  reconcile(present: FleetStatePresent): void;
}
