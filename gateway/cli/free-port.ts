/**
 * A free 127.0.0.1 TCP port for a server started later, in another process that takes no port 0: the SPIRE
 * server of `spire-lab.ts` (the lab of `npm start`), and in the tests nats-server, rsyslog, SPIRE, or a port
 * where "nothing listens here".
 *
 * The port is chosen at random BELOW the kernel's ephemeral range (net.ipv4.ip_local_port_range, 32768–60999 on
 * Linux by default), not by listen(0). listen(0) hands out a port from that range, and once it is closed again
 * the kernel may give the same port to any process as the source port of an outgoing connection, or to another
 * listen(0), before our server binds it — seen in a whole-suite run under load: nats-server exiting with "bind:
 * address already in use" and the fleet lab waiting 20 s for a leaf that was gone. Below the range only an
 * explicit bind can take the port (and a client can never connect to itself through it); the random pick keeps
 * parallel test processes apart, and the probe bind skips ports already in use. A port is handed out once per
 * process: a caller that picks several before starting the servers (the fleet lab takes eleven for its NATS
 * nodes) would otherwise, now and then, be given the same one twice, and its second server could not bind it.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { randomInt } from 'node:crypto';

const HOST = '127.0.0.1';
/** Lowest port handed out: above the well-known and most registered service ports. */
const FLOOR = 10_000;
const TRIES = 50;
/** Ports this process handed out: never again (a few per server started, so the set stays small). */
const handedOut = new Set<number>();

/** The first port of the kernel's ephemeral range (Linux); Linux's default when it cannot be read. */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32768;
  } catch {
    return 32768;
  }
}

/** Binds `port` (0: any) on loopback and releases it: the port bound, or null if it is taken. */
function probe(port: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) =>
      err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolve(null) : reject(err),
    );
    srv.listen({ port, host: HOST, exclusive: true }, () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : null));
    });
  });
}

export async function freePort(): Promise<number> {
  const low = ephemeralLow();
  if (low - FLOOR >= 1000) {
    for (let tries = 0, picks = 0; tries < TRIES && picks < 100 * TRIES; picks++) {
      const pick = FLOOR + randomInt(low - FLOOR);
      if (handedOut.has(pick)) continue; // not a try: the range is far larger than what one process takes
      tries++;
      // reserved before the probe's await, so concurrent callers cannot both be given it
      handedOut.add(pick);
      if ((await probe(pick)) !== null) return pick;
      handedOut.delete(pick);
    }
  }
  // A range that leaves no room below it: fall back to the kernel's choice (one it has not given us before).
  for (let tries = 0; tries < TRIES; tries++) {
    const port = await probe(0);
    if (port === null) break;
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('freePort: no free loopback port');
}
