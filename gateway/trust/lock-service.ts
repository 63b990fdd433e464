/**
 * Locks [Teleport locks; IEC 62443-3-3 SR 2.6]: lock an identity (an exact SPIFFE ID or a pattern with `*`/`**`),
 * a Modbus role, a device, or one JIT grant, optionally until a time. A new lock ends every live session it
 * matches at once and refuses new ones. Locks are durable. If the store exists but cannot be read at start,
 * the runtime fails closed by default (`unreadable` is set and every admission and request is refused) —
 * the alternative `best-effort` mode starts with no locks and says so loudly.
 */
import { randomUUID } from 'node:crypto';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../errors.js';
import type { AuditSink } from '../audit/audit-events.js';
import { compileIdPattern, type IdPattern } from '../identity/spiffe-id-pattern.js';
import { readDurableJson, writeDurableJson } from './durable-json.js';

export type LockKind = 'identity' | 'role' | 'device' | 'grant';

export interface Lock {
  readonly id: string;
  readonly target: { readonly kind: LockKind; readonly value: string };
  readonly by: string;
  readonly reason: string;
  readonly createdAt: string;
  readonly expiresAt?: string;
  /** `fleet`: made at the fleet hub and applied from the site bucket (gateway/fleet/fleet-locks.ts); absent: local. */
  readonly source?: 'fleet';
  /**
   * Fleet locks: the `time` of the newest control heartbeat this gateway knew when the lock first arrived (the
   * control's clock). A resync removes the lock only on the word of a mirror with a newer heartbeat: an older
   * mirror may lack it because it is older (gateway/fleet/fleet-locks.ts). Kept from the first arrival.
   */
  readonly heartbeatAtReceipt?: string;
}

export interface LockSubject {
  readonly identity: string;
  readonly role: string | null;
  readonly device?: string;
  readonly grantId?: string;
}

export class LockService {
  private locks: Lock[] = [];
  private patterns = new Map<string, IdPattern>();
  private readonly file: string;
  /** Set when the store could not be read at start (fail-closed mode refuses everything while set). */
  unreadable: string | null = null;

  constructor(
    dir: string,
    private readonly audit: AuditSink,
    private readonly now: () => number,
  ) {
    this.file = join(dir, 'locks.json');
  }

  load(): string | null {
    const r = readDurableJson<Lock[]>(this.file);
    if (r.kind === 'unreadable') {
      this.unreadable = r.error;
      return r.error;
    }
    if (r.kind === 'ok') this.locks = r.value;
    this.unreadable = null;
    return null;
  }

  /** Best-effort mode: moves the unreadable store aside (kept for forensics) and starts empty. */
  setAside(): string {
    const aside = `${this.file}.unreadable-${Date.now()}`;
    try {
      renameSync(this.file, aside);
    } catch {
      /* nothing to move */
    }
    this.locks = [];
    this.unreadable = null;
    return aside;
  }

  list(): Lock[] {
    this.expire();
    return [...this.locks];
  }

  create(
    target: Lock['target'],
    by: string,
    reason: string,
    expiresAt?: Date,
  ): { ok: true; lock: Lock } | { ok: false; message: string } {
    // Writing now would replace the locks we could not read with just this one.
    if (this.unreadable) return { ok: false, message: `lock store unreadable, repair it first: ${this.unreadable}` };
    if (!reason.trim()) return { ok: false, message: 'a reason is mandatory' };
    if (target.kind === 'identity') {
      try {
        compileIdPattern(target.value);
      } catch (err) {
        return { ok: false, message: `bad identity pattern: ${errorMessage(err)}` };
      }
    }
    const lock: Lock = {
      id: randomUUID(),
      target,
      by,
      reason,
      createdAt: new Date(this.now()).toISOString(),
      ...(expiresAt ? { expiresAt: expiresAt.toISOString() } : {}),
    };
    this.locks.push(lock);
    writeDurableJson(this.file, this.locks);
    this.audit.append({
      type: 'lock.created',
      lockId: lock.id,
      target,
      by,
      reason,
      ...(lock.expiresAt ? { expiresAt: lock.expiresAt } : {}),
    });
    return { ok: true, lock };
  }

  remove(id: string, by: string, source?: 'fleet'): boolean {
    if (this.unreadable) return false;
    const before = this.locks.length;
    this.locks = this.locks.filter((l) => l.id !== id);
    if (this.locks.length === before) return false;
    writeDurableJson(this.file, this.locks);
    this.audit.append({ type: 'lock.removed', lockId: id, by, ...(source ? { source } : {}) });
    return true;
  }

  /**
   * A lock made elsewhere (the fleet hub), kept with its own id, by, reason and times and marked `source:
   * fleet`. Idempotent: the same lock again changes nothing (`changed: false`, no event), so a re-delivered
   * bucket entry is harmless; a changed one replaces it. An already expired lock is not stored. A LOCAL lock
   * with that id is never replaced (it would become the hub's, and a hub delete would remove it). A store that
   * cannot be written does not stop the lock: it is enforced and audited at once, and `storeError` says it is
   * not durable (a restart would lose it until the bucket delivers it again).
   */
  apply(lock: Lock): { ok: true; changed: boolean; storeError?: string } | { ok: false; message: string } {
    if (this.unreadable) return { ok: false, message: `lock store unreadable, repair it first: ${this.unreadable}` };
    if (lock.target.kind === 'identity') {
      try {
        compileIdPattern(lock.target.value);
      } catch (err) {
        return { ok: false, message: `bad identity pattern: ${errorMessage(err)}` };
      }
    }
    const old = this.locks.find((l) => l.id === lock.id);
    if (old && old.source !== 'fleet')
      return { ok: false, message: `lock ${lock.id} exists locally (made through this gateway's admin API)` };
    const receipt = old?.heartbeatAtReceipt ?? lock.heartbeatAtReceipt;
    const fleetLock: Lock = {
      ...withoutReceipt(lock),
      source: 'fleet',
      ...(receipt ? { heartbeatAtReceipt: receipt } : {}),
    };
    if (old && sameLock(old, fleetLock)) return { ok: true, changed: false };
    if (lock.expiresAt && Date.parse(lock.expiresAt) <= this.now()) return { ok: true, changed: false };
    this.locks = [...this.locks.filter((l) => l.id !== lock.id), fleetLock];
    let storeError: string | undefined;
    try {
      writeDurableJson(this.file, this.locks);
    } catch (err) {
      storeError = errorMessage(err); // enforced and audited all the same: the caller reports it
    }
    this.audit.append({
      type: 'lock.created',
      lockId: lock.id,
      target: lock.target,
      by: lock.by,
      reason: lock.reason,
      ...(lock.expiresAt ? { expiresAt: lock.expiresAt } : {}),
      source: 'fleet',
    });
    return { ok: true, changed: true, ...(storeError !== undefined ? { storeError } : {}) };
  }

  /** The first lock that applies to the subject, or null. */
  matching(s: LockSubject): Lock | null {
    if (this.locks.length === 0) return null; // the usual case, asked on every request: no clock read
    const now = this.now();
    for (const l of this.locks) {
      if (l.expiresAt && Date.parse(l.expiresAt) <= now) continue;
      if (this.applies(l, s)) return l;
    }
    return null;
  }

  private applies(l: Lock, s: LockSubject): boolean {
    switch (l.target.kind) {
      case 'identity':
        return this.pattern(l.target.value).matches(s.identity);
      case 'role':
        return s.role === l.target.value;
      case 'device':
        return s.device === l.target.value;
      case 'grant':
        return s.grantId === l.target.value;
    }
  }

  private pattern(p: string): IdPattern {
    let c = this.patterns.get(p);
    if (!c) {
      c = compileIdPattern(p);
      this.patterns.set(p, c);
    }
    return c;
  }

  /** Housekeeping: expired locks leave with their `lock.removed` event when they run out, not when next listed. */
  pruneExpired(): void {
    this.expire();
  }

  private expire(): void {
    if (this.unreadable) return;
    const now = this.now();
    const live = this.locks.filter((l) => !l.expiresAt || Date.parse(l.expiresAt) > now);
    if (live.length === this.locks.length) return;
    for (const l of this.locks)
      if (!live.includes(l)) this.audit.append({ type: 'lock.removed', lockId: l.id, reason: 'expired' });
    this.locks = live;
    writeDurableJson(this.file, this.locks);
  }
}

function withoutReceipt(l: Lock): Lock {
  const { heartbeatAtReceipt: _receipt, ...rest } = l;
  return rest;
}

/** The same lock, whatever this gateway noted about its arrival. */
function sameLock(a: Lock, b: Lock): boolean {
  return JSON.stringify(withoutReceipt(a)) === JSON.stringify(withoutReceipt(b));
}
