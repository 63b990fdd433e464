/**
 * The JIT grants of an audit trail, as `policy replay` needs them: fed the `jit.*` events in trail order, it
 * says whether an identity held an approved, unexpired, unrevoked grant of a rule on a device at a given
 * time — what the runtime's grant check would have found (gateway/trust/grant-service.ts). A grant's register
 * scope is not in its events, so any live grant of the rule counts. Memory: one entry per grant still open.
 */
interface TrailGrant {
  readonly requester: string;
  readonly ruleId: string | undefined;
  readonly devices: readonly string[] | undefined;
  /** Epoch ms the grant ends, once approved; null while pending. */
  expiresMs: number | null;
}

export class ReplayGrants {
  private readonly grants = new Map<string, TrailGrant>();

  /** Any trail event: only `jit.requested`, `jit.approved`, `jit.denied`, `jit.revoked`, `jit.expired` count. */
  see(e: Readonly<Record<string, unknown>>): void {
    const id = e['grantId'];
    if (typeof id !== 'string') return;
    switch (e['type']) {
      case 'jit.requested':
        if (typeof e['requester'] !== 'string') return;
        this.grants.set(id, {
          requester: e['requester'],
          ruleId: typeof e['ruleId'] === 'string' ? e['ruleId'] : undefined,
          devices: Array.isArray(e['devices']) ? (e['devices'] as string[]) : undefined,
          expiresMs: null,
        });
        return;
      case 'jit.approved': {
        const g = this.grants.get(id);
        const at = typeof e['expiresAt'] === 'string' ? Date.parse(e['expiresAt']) : Number.NaN;
        if (g !== undefined && Number.isFinite(at)) g.expiresMs = at;
        return;
      }
      case 'jit.denied':
      case 'jit.revoked':
      case 'jit.expired':
        this.grants.delete(id);
        return;
      default:
    }
  }

  /** Did `identity` hold a live grant of `ruleId` on `device` at `atMs`? */
  held(identity: string, ruleId: string, device: string, atMs: number): boolean {
    for (const g of this.grants.values()) {
      if (g.requester !== identity || g.expiresMs === null || atMs >= g.expiresMs) continue;
      if ((g.ruleId === undefined || g.ruleId === ruleId) && (g.devices === undefined || g.devices.includes(device)))
        return true;
    }
    return false;
  }
}
