/**
 * Admin commands over the gRPC API, each call made with the caller's OWN SVID (the gateway authorizes the
 * SPIFFE ID it verified, never a flag):
 *   verigate jit request --device D --table holding --start 0 --end 9 --access write --duration 5m --reason "…" [--rule ID]
 *   verigate jit request --device rio-1 --table records --addresses 0x0100-0x0100 --access write …  (PROFINET record indices)
 *   verigate jit approve|deny|revoke GRANT_ID [--reason "…"]     verigate jit list
 *   verigate sessions list      verigate sessions kill (--session ID | --id SPIFFE_ID) [--reason "…"]
 *   verigate lock create --kind identity|role|device|grant --value V --reason R [--ttl 10m]
 *   verigate lock list          verigate lock remove LOCK_ID
 *   verigate reload
 * The gateway itself must present the pinned SPIFFE ID (`--gateway-id`, $VERIGATE_GATEWAY_ID, or lab.json):
 * without one the command refuses to connect (exit 2).
 * Exit codes: 0 ok, 1 the call failed or was refused (also: the server is not the pinned gateway), 2 bad usage.
 */
import type { GrantTable } from '../trust/grant-service.js';
import {
  grantTableToProto,
  type GrantMessage,
  type ListGrantsResponse,
  type ListLocksResponse,
  type ListSessionsResponse,
  type LockMessage,
  type ReloadPolicyResponse,
  type SessionMessage,
} from '../frontdoor/grpc-proto.js';
import { intArg, makeCommand, need, onlyArg, reasonOf, seconds, UsageError, type Sub } from './grpc-command.js';

const TABLES: ReadonlySet<string> = new Set<GrantTable>(['coils', 'discrete', 'holding', 'input', 'records']);

/** A number as operators write addresses and record indices: decimal or 0x hex. */
function addressNumber(text: string, what: string): number {
  const t = text.trim();
  if (!/^(0x[0-9a-f]+|[0-9]+)$/i.test(t))
    throw new UsageError(`${what}: "${text}" is not a number (decimal or 0x hex)`);
  return Number(t);
}

/** `--addresses LO-HI` (or one value), else `--start N --end N`; inclusive. */
function addressRange(v: Parameters<Sub>[0]): { start: number; end: number } {
  const given = v['addresses'];
  if (typeof given === 'string') {
    if (v['start'] !== undefined || v['end'] !== undefined)
      throw new UsageError('give --addresses or --start/--end, not both');
    const m = /^\s*([^-\s]+)\s*(?:-\s*([^-\s]+)\s*)?$/.exec(given);
    if (!m) throw new UsageError(`--addresses must look like 0x0100-0x0103 or 100, got "${given}"`);
    const start = addressNumber(m[1] as string, '--addresses');
    return { start, end: m[2] === undefined ? start : addressNumber(m[2], '--addresses') };
  }
  return { start: intArg(v, 'start'), end: intArg(v, 'end') };
}

function grantLine(g: GrantMessage): string {
  const expires = g.expiresAt ? ` expires=${g.expiresAt}` : '';
  const approvals = g.approvals.length ? ` approvals=${g.approvals.join(',')}` : '';
  const scope = `${g.device} ${g.table}:${g.start}-${g.end} ${g.access} ${g.durationS}s`;
  return `${g.id} ${g.status} ${g.requester} rule=${g.ruleId} ${scope}${expires}${approvals} reason="${g.reason}"`;
}
function sessionLine(s: SessionMessage): string {
  const ro = s.readOnly ? ' read-only' : '';
  const counts = `requests=${s.requests} denied=${s.denied} writes=${s.writes}`;
  return `${s.id} ${s.transport} ${s.spiffeId} ${s.remote} ${counts} trust=${s.trustScore} (${s.trustState})${ro}`;
}
function lockLine(l: LockMessage): string {
  const expires = l.expiresAt ? ` expires=${l.expiresAt}` : '';
  return `${l.id} ${l.kind}=${l.value} by ${l.by}${expires} reason="${l.reason}"`;
}

/** approve|deny|revoke GRANT_ID [--reason]: one grant decision by the caller. */
const decision =
  (method: string, verb: string): Sub =>
  async (v, pos, c) => {
    const r = await c.call<GrantMessage>(method, { grantId: onlyArg(pos, 'GRANT_ID'), reason: reasonOf(v) });
    return c.report(r, (g) => [`${verb} ${grantLine(g)}`]);
  };

const JIT: Record<string, Sub> = {
  request: async (v, pos, c) => {
    if (pos.length) throw new UsageError('jit request takes no positional arguments');
    const table = need(v, 'table');
    if (!TABLES.has(table)) throw new UsageError('--table must be coils, discrete, holding, input or records');
    const access = need(v, 'access');
    if (!['read', 'write', 'read-write'].includes(access))
      throw new UsageError('--access must be read, write or read-write');
    const req = {
      device: need(v, 'device'),
      table: grantTableToProto(table as GrantTable),
      ...addressRange(v),
      access,
      durationS: seconds(need(v, 'duration'), 'duration'),
      reason: need(v, 'reason'),
      ruleId: typeof v['rule'] === 'string' ? v['rule'] : '',
    };
    return c.report(await c.call<GrantMessage>('RequestGrant', req), (g) => [`requested ${grantLine(g)}`]);
  },
  approve: decision('ApproveGrant', 'approved'),
  deny: decision('DenyGrant', 'denied'),
  revoke: decision('RevokeGrant', 'revoked'),
  list: async (_v, _pos, c) =>
    c.report(await c.call<ListGrantsResponse>('ListGrants', {}), (r) =>
      r.grants.length ? r.grants.map(grantLine) : ['no grants'],
    ),
};

const SESSIONS: Record<string, Sub> = {
  list: async (_v, _pos, c) =>
    c.report(await c.call<ListSessionsResponse>('ListSessions', {}), (r) =>
      r.sessions.length ? r.sessions.map(sessionLine) : ['no sessions'],
    ),
  kill: async (v, _pos, c) => {
    const sessionId = typeof v['session'] === 'string' ? v['session'] : '';
    const spiffeId = typeof v['id'] === 'string' ? v['id'] : '';
    if (!sessionId === !spiffeId) throw new UsageError('give exactly one of --session ID or --id SPIFFE_ID');
    const r = await c.call<{ ended: number }>('KillSession', { sessionId, spiffeId, reason: reasonOf(v) });
    return c.report(r, (x) => [`ended ${x.ended} session(s)`]);
  },
};

const LOCKS: Record<string, Sub> = {
  create: async (v, _pos, c) => {
    const kind = need(v, 'kind');
    if (!['identity', 'role', 'device', 'grant'].includes(kind))
      throw new UsageError('--kind must be identity, role, device or grant');
    const ttlS = typeof v['ttl'] === 'string' ? seconds(v['ttl'], 'ttl') : 0;
    const req = { kind, value: need(v, 'value'), reason: need(v, 'reason'), ttlS };
    return c.report(await c.call<LockMessage>('CreateLock', req), (l) => [
      `locked ${lockLine(l)} (ended ${l.sessionsEnded} session(s))`,
    ]);
  },
  list: async (_v, _pos, c) =>
    c.report(await c.call<ListLocksResponse>('ListLocks', {}), (r) =>
      r.locks.length ? r.locks.map(lockLine) : ['no locks'],
    ),
  remove: async (_v, pos, c) =>
    c.report(await c.call<{ removed: boolean }>('RemoveLock', { lockId: onlyArg(pos, 'LOCK_ID') }), () => [
      'lock removed',
    ]),
};

const RELOAD: Record<string, Sub> = {
  '': async (_v, _pos, c) =>
    c.report(
      await c.call<ReloadPolicyResponse>('ReloadPolicy', {}),
      (r) => [
        r.ok
          ? `policy ${r.changed ? 'reloaded' : 'unchanged'}: version ${r.version}`
          : `reload failed, version ${r.version} stays in force:\n${r.error}`,
      ],
      (r) => (r.ok ? null : 'reload failed'),
    ),
};

export const jitCommand = makeCommand({
  name: 'jit',
  usage: [
    'usage: verigate jit request --device D --table coils|discrete|holding|input|records (--start N --end N | --addresses LO-HI)',
    '                            --access read|write|read-write',
    '                            --duration 5m --reason "…" [--rule RULE_ID]',
    '       verigate jit approve|deny|revoke GRANT_ID [--reason "…"]',
    '       verigate jit list',
  ].join('\n'),
  options: {
    device: { type: 'string' },
    table: { type: 'string' },
    start: { type: 'string' },
    end: { type: 'string' },
    addresses: { type: 'string' },
    access: { type: 'string' },
    duration: { type: 'string' },
    rule: { type: 'string' },
  },
  subs: JIT,
});

export const sessionsCommand = makeCommand({
  name: 'sessions',
  usage: 'usage: verigate sessions list\n       verigate sessions kill (--session ID | --id SPIFFE_ID) [--reason "…"]',
  options: { session: { type: 'string' }, id: { type: 'string' } },
  subs: SESSIONS,
});

export const lockCommand = makeCommand({
  name: 'lock',
  usage: [
    'usage: verigate lock create --kind identity|role|device|grant --value V --reason "…" [--ttl 10m]',
    '       verigate lock list',
    '       verigate lock remove LOCK_ID',
  ].join('\n'),
  options: { kind: { type: 'string' }, value: { type: 'string' }, ttl: { type: 'string' } },
  subs: LOCKS,
});

export const reloadCommand = makeCommand({
  name: 'reload',
  usage: 'usage: verigate reload',
  options: {},
  subs: RELOAD,
});
