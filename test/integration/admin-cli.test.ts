/**
 * `verigate jit|sessions|lock|reload` against an in-process gateway: the real CLI as a child process
 * (`node --import tsx gateway/cli/verigate.ts …`) for the JIT flow, target resolution (--server, $VERIGATE_GRPC,
 * --lab/--as) and exit codes; the same command modules in-process (memoryIo) for the remaining subcommands.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jitCommand, lockCommand, reloadCommand, sessionsCommand } from '../../gateway/cli/admin-commands.js';
import { memoryIo } from '../../gateway/cli/cli-io.js';
import { ENG, HMI, LEAD, startHarness, value } from '../helpers/grpc-harness.js';

const h = await startHarness();
t.teardown(() => h.stop());
const files = {
  eng: await h.pemFiles(ENG, 'eng'),
  lead: await h.pemFiles(LEAD, 'lead'),
  hmi: await h.pemFiles(HMI, 'hmi'),
};
const [host, port] = h.server.split(':');
writeFileSync(join(h.dir, 'lab.json'), JSON.stringify({
  endpoints: { grpc: { host, port: Number(port) } },
  clients: { 'shift-lead': { spiffeId: LEAD, ...files.lead }, engineer: { spiffeId: ENG, ...files.eng } },
}));
const as = (who: keyof typeof files): string[] => ['--cert', files[who].cert, '--key', files[who].key, '--bundle', files[who].bundle];

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'gateway/cli/verigate.ts', ...args], {
      timeout: 30_000, env: { ...process.env, VERIGATE_GRPC: '', ...env },
    }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

t.test('child process: jit request (--server) → approve (--lab --as) → the engineer may write', async (t) => {
  const req = await cli(['jit', 'request', '--server', h.server, ...as('eng'), '--device', 'turbine-1', '--table', 'holding',
    '--start', '0', '--end', '9', '--access', 'write', '--duration', '5m', '--reason', 'replace sensor', '--json']);
  t.equal(req.code, 0, req.stderr);
  const grant = JSON.parse(req.stdout) as { id: string; status: string; requester: string };
  t.equal(grant.status, 'pending');
  t.equal(grant.requester, ENG);

  const self = await cli(['jit', 'approve', grant.id, '--lab', h.dir, '--as', 'engineer']);
  t.equal(self.code, 1, 'self-approval fails with exit 1');
  t.match(self.stderr, /PERMISSION_DENIED/);

  const ok = await cli(['jit', 'approve', grant.id, '--lab', h.dir, '--as', 'shift-lead']);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, new RegExp(`approved ${grant.id} active`));

  const eng = await h.client('Modbus', ENG);
  t.ok((await eng.call('WriteRegisters', { device: 'turbine-1', address: 3, values: [9] })).ok, 'write allowed under the approved grant');
});

t.test('child process: $VERIGATE_GRPC, sessions list --json; a non-admin gets exit 1; bad usage exit 2', async (t) => {
  const list = await cli(['sessions', 'list', ...as('lead'), '--json'], { VERIGATE_GRPC: h.server });
  t.equal(list.code, 0, list.stderr);
  const sessions = (JSON.parse(list.stdout) as { sessions: { spiffeId: string; transport: string }[] }).sessions;
  t.ok(sessions.some((s) => s.spiffeId === ENG && s.transport === 'grpc'), 'the engineer session is listed');
  const denied = await cli(['lock', 'list', '--server', h.server, ...as('hmi')]);
  t.equal(denied.code, 1);
  t.match(denied.stderr, /PERMISSION_DENIED/);
  const usage = await cli(['lock', 'create', '--server', h.server, ...as('lead'), '--kind', 'planet', '--value', 'x', '--reason', 'r']);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /--kind must be/);
});

t.test('in-process: jit list/revoke, lock create/list/remove, sessions kill, reload; usage errors', async (t) => {
  const run = async (cmd: typeof jitCommand, args: string[], who: keyof typeof files = 'lead') => {
    const io = memoryIo({}, process.cwd());
    const code = await cmd([...args, '--server', h.server, ...as(who)], io);
    return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
  };
  const list = await run(jitCommand, ['list']);
  t.equal(list.code, 0, list.err);
  const id = /^(\S+) active /m.exec(list.out)?.[1];
  t.ok(id, 'the active grant is listed');
  const revoked = await run(jitCommand, ['revoke', id ?? '', '--reason', 'done']);
  t.equal(revoked.code, 0, revoked.err);
  t.match(revoked.out, /revoked .* revoked /);

  const created = await run(lockCommand, ['create', '--kind', 'device', '--value', 'turbine-1', '--reason', 'maintenance', '--ttl', '10m']);
  t.equal(created.code, 0, created.err);
  const lockId = /^locked (\S+) device=turbine-1/.exec(created.out)?.[1] ?? '';
  t.ok(lockId);
  t.match((await run(lockCommand, ['list'])).out, new RegExp(`${lockId} device=turbine-1 by ${LEAD}`));
  t.equal((await run(lockCommand, ['remove', lockId])).code, 0);
  t.equal((await run(lockCommand, ['remove', lockId])).code, 1, 'removing twice: NOT_FOUND → exit 1');

  const killed = await run(sessionsCommand, ['kill', '--id', ENG]);
  t.equal(killed.code, 0, killed.err);
  t.match(killed.out, /ended [1-9]\d* session/);
  t.equal((await run(sessionsCommand, ['kill'])).code, 2, 'kill needs --session or --id');
  t.equal((await run(sessionsCommand, ['kill', '--session', 'a', '--id', ENG])).code, 2, 'not both');

  const reload = await run(reloadCommand, []);
  t.equal(reload.code, 0, reload.err);
  t.match(reload.out, /policy unchanged: version [0-9a-f]{64}/);
  writeFileSync(h.policyFile, 'version: 1\nrules: [oops\n');
  const bad = await run(reloadCommand, []);
  t.equal(bad.code, 1, 'a refused reload exits 1');
  t.match(bad.out, /reload failed, version [0-9a-f]{64} stays in force/);

  t.equal((await run(jitCommand, ['request', '--device', 'turbine-1'], 'eng')).code, 2, 'missing options');
  t.equal((await run(jitCommand, ['request', '--device', 'turbine-1', '--table', 'holding', '--start', '-1', '--end', '2', '--access', 'write', '--duration', '5m', '--reason', 'r'], 'eng')).code, 2, 'bad number');
  const noTarget = memoryIo({}, process.cwd());
  t.equal(await reloadCommand([], noTarget), 2, 'no server, no SVID');
  t.match(noTarget.stderr.join('\n'), /no gateway address/);
  const g = value(await (await h.client('Admin', LEAD)).call<{ grants: unknown[] }>('ListGrants', {}));
  t.equal(g.grants.length, 1, 'nothing else was created by the failed invocations');
});
