import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import t from 'tap';
import { freePort } from '../../gateway/cli/free-port.js';

const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);

const listenOn = (port: number): Promise<() => Promise<void>> =>
  new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () =>
      resolve(() => new Promise<void>((r) => srv.close(() => r()))),
    );
  });

t.test('a free port below the ephemeral range, which a later explicit bind gets', async (t) => {
  const ports = new Set<number>();
  for (let i = 0; i < 20; i++) {
    const port = await freePort();
    t.ok(port >= 10_000 && port < ephemeralLow, `${port} is below the ephemeral range (${ephemeralLow})`);
    ports.add(port);
    const close = await listenOn(port);
    await close();
  }
  t.ok(ports.size > 1, 'picked at random, so parallel test processes rarely meet');
});

t.test('never the same port twice in one process, though none of them is bound yet', async (t) => {
  // Picked at random from about 22,000 ports, 1,000 picks would repeat one almost surely (the birthday bound)
  // if nothing remembered them: the fleet lab picks eleven before it starts a server.
  const picks: number[] = [];
  for (let i = 0; i < 1000; i++) picks.push(await freePort());
  t.equal(new Set(picks).size, picks.length);
});

t.test('callers waiting at once are never given the same port either', async (t) => {
  const picks = await Promise.all(Array.from({ length: 500 }, () => freePort()));
  t.equal(new Set(picks).size, picks.length);
});
