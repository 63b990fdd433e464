/**
 * A read that reached the device and was then stopped (session end, lock) before its one retransmission keeps
 * the fact that it was sent: the client result says `sent`, the audit event `mayHaveExecuted`, the reason never
 * "before it was sent". Ported from the review's proof (a user-index read that silences the device stack, then
 * the operator locks the identity). A request aborted before any transmission stays "never sent".
 */
import t from 'tap';
import { ProfinetClient } from '../../gateway/upstream/profinet-client.js';
import { recordEnding } from '../../gateway/frontdoor/record-ending.js';
import { recordDecisionEvent } from '../../gateway/frontdoor/record-events.js';
import type { Verdict } from '../../gateway/frontdoor/request-events.js';
import type { Session } from '../../gateway/frontdoor/session.js';
import { FakePnioDevice, recordKey } from '../fixtures/profinet/fake-device.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const READ = { clientKey: 'spiffe://plant.example/x', api: 0, slot: 1, subslot: 1, index: 0x7b, maxLength: 64 };

async function setup(t: { teardown(fn: () => unknown): void }) {
  const timers = new FakeTimers();
  const dev = await FakePnioDevice.start();
  dev.records.set(recordKey(1, 1, 0x0100), Buffer.from('001e', 'hex'));
  const client = new ProfinetClient({ name: 'rio-1', host: '127.0.0.1', port: dev.port, timeoutMs: 1000, timers });
  t.teardown(async () => {
    await client.close();
    await dev.close();
  });
  return { timers, dev, client };
}

t.test('a read sent, then aborted before its retransmission, is reported and audited as sent', async (t) => {
  const { timers, dev, client } = await setup(t);
  dev.handler = () => 'silent'; // the read brought the stack down: no answer
  const ac = new AbortController();
  const p = client.readRecord({ ...READ, signal: ac.signal });
  await dev.waitFor(() => dev.datagrams === 1);
  ac.abort('locked');
  timers.advance(1000); // the retransmission is due: its gate says no
  const r = await p;
  t.equal(dev.datagrams, 1, 'the Read Implicit did reach the device, once');
  t.same(r, { kind: 'aborted', sent: true });
  const end = recordEnding(r, false);
  t.equal(end.outcome, 'aborted');
  t.notMatch(end.detail, /before it was sent/);
  t.equal(end.mayHaveExecuted, true);
  const session = { id: 's1', peer: { id: READ.clientKey, role: null } } as unknown as Session;
  const verdict = { effect: 'allow', ruleId: 'r', reason: 'allowed', code: 'allowed' } as Verdict;
  const request = { access: 'read' as const, api: 0, slot: 1, subslot: 1, index: 0x7b, length: 64 };
  const e = recordDecisionEvent({ session, device: 'rio-1', request }, verdict, end, 'aborted', {
    latencyMs: 1,
    policyVersion: 'v',
  });
  t.match(e, { type: 'record.decision', outcome: 'aborted', mayHaveExecuted: true });
});

t.test('aborted while queued: never sent, and said so', async (t) => {
  const { dev, client } = await setup(t);
  const ac = new AbortController();
  ac.abort('locked');
  const r = await client.readRecord({ ...READ, signal: ac.signal });
  t.same(r, { kind: 'aborted' });
  t.equal(dev.datagrams, 0);
  const end = recordEnding(r, false);
  t.match(end.detail, /before it was sent/);
  t.notOk(end.mayHaveExecuted);
});
