/**
 * Policy `session.idleTimeout` follows a reload on live Modbus/TCP Security sessions (mbaps-listener.ts
 * `followIdleTimeout`), as it does for gRPC: a session opened with no idle timeout is closed `idle-timeout`
 * once a reloaded policy sets one, without reconnecting.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import type { Session } from '../../gateway/frontdoor/session.js';
import { HISTORIAN_HOLDING_READS, startHarness, TestMbapsClient } from '../helpers/gateway-harness.js';

const READ = Buffer.from([3, 0, 0, 0, 1]);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('a live mbaps session gets the idle timeout a policy reload sets', async (t) => {
  const h = await startHarness({ policy: HISTORIAN_HOLDING_READS });
  t.teardown(() => h.stop());
  const opened: Session[] = [];
  h.gateway.sessions.on('added', (s: Session) => opened.push(s));
  const client = await TestMbapsClient.connect(h.port, await h.mint('spiffe://plant.example/historian/a'));
  t.teardown(() => client.close());
  t.same([...((await client.request(1, READ)) ?? [])].slice(0, 2), [3, 2], 'served');
  await sleep(600);
  t.equal(client.isClosed, false, 'no idle timeout in the policy it opened under');

  writeFileSync(h.policyFile, `${HISTORIAN_HOLDING_READS}session: { idleTimeout: 300ms }\n`);
  t.match(h.gateway.policy.reload('test'), { ok: true, changed: true });
  const closed = await Promise.race([client.closed.then(() => true), sleep(5000).then(() => false)]);
  t.equal(closed, true, 'closed by the reloaded idle timeout, no reconnect needed');
  t.same(
    opened.map((s) => s.endReason),
    ['idle-timeout'],
  );
});
