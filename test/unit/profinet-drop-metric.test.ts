/**
 * The injected drop metric (`metrics.dropped`, profinet-types.ts) runs inside the UDP socket's 'message' handler:
 * a hook that throws must not become an uncaught exception (it would end the gateway on the next stray datagram).
 * The datagram is still counted and dropped, and the client goes on serving.
 */
import t from 'tap';
import { ProfinetClient } from '../../gateway/upstream/profinet-client.js';
import { FakePnioDevice, recordKey } from '../fixtures/profinet/fake-device.js';

const READ = { clientKey: 'spiffe://plant.example/historian', api: 0, slot: 1, subslot: 1, index: 0x10, maxLength: 64 };

t.test('a drop metric hook that throws: the datagram is dropped, nothing escapes the socket handler', async (t) => {
  const dev = await FakePnioDevice.start();
  dev.records.set(recordKey(1, 1, 0x10), Buffer.from('001e', 'hex'));
  let hooked!: () => void;
  const hookRan = new Promise<void>((r) => (hooked = r));
  const client = new ProfinetClient({
    name: 'rio-1',
    host: '127.0.0.1',
    port: dev.port,
    metrics: {
      dropped: () => {
        hooked();
        throw new Error('metric registry refused the label');
      },
    },
  });
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown): void => void uncaught.push(err);
  process.on('uncaughtException', onUncaught);
  t.teardown(async () => {
    process.off('uncaughtException', onUncaught);
    await client.close();
    await dev.close();
  });
  t.equal((await client.readRecord(READ)).kind, 'record');
  const gateway = dev.seen[0]?.from;
  if (gateway === undefined) {
    t.fail('the device saw the read');
    return;
  }
  dev.send(Buffer.from('not an RPC header'), gateway); // a stray datagram from the device's address
  await hookRan;
  await new Promise<void>((r) => setImmediate(r));
  t.same(uncaught, []);
  t.equal(client.stats().dropped.undecodable, 1);
  t.equal((await client.readRecord(READ)).kind, 'record', 'still serving');
});
