import net from 'node:net';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { measureHandshakes } from '../../bench/handshake-rate.js';
import { MbapFramer, encodeAdu } from '../../protocols/modbus/index.js';

/** A plain Modbus/TCP server answering every FC3 read with 0 registers' worth of bytes; counts its sessions. */
async function countingServer(): Promise<{ port: number; sessions: () => number; close: () => Promise<void> }> {
  let sessions = 0;
  const server = net.createServer((s) => {
    sessions++;
    const framer = new MbapFramer();
    s.on('error', () => s.destroy());
    s.on('data', (chunk) => {
      framer.push(chunk);
      for (let r = framer.next(); r.kind === 'frame'; r = framer.next())
        s.write(encodeAdu(r.frame.header.transactionId, r.frame.header.unitId, Buffer.from([3, 0])));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    sessions: () => sessions,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

t.test('the window opens after the warm-up: sessions of the warm-up are not counted', async (t) => {
  const srv = await countingServer();
  t.teardown(() => srv.close());
  const r = await measureHandshakes({ port: srv.port, tls: null }, { concurrency: 2, durationMs: 200, warmupMs: 1000 });
  t.equal(r.failed, 0);
  t.ok(r.completed > 0, `sessions counted in the window (${r.completed})`);
  t.ok(r.completed < srv.sessions(), `fewer than the server saw in all (${r.completed} < ${srv.sessions()})`);
  t.ok(r.perSecond > 0 && Number.isFinite(r.perSecond));
  t.ok(r.cpu !== undefined && r.cpu.client >= 0, 'the client side’s CPU per session is measured');
});

t.test('without a warm-up every session counts', async (t) => {
  const srv = await countingServer();
  t.teardown(() => srv.close());
  const r = await measureHandshakes({ port: srv.port, tls: null }, { concurrency: 2, durationMs: 200 });
  t.equal(r.completed + r.failed, srv.sessions());
});
