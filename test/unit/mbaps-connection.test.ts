/**
 * One Modbus/TCP Security connection (mbaps-connection.ts) over a fake socket, with a pipeline whose answers
 * the test releases: refusals made before policy (invalid PDU, no route) hold an in-flight slot until their
 * answer is out like handled requests, so a pipelining client's junk frames stop the pump at `maxInFlight`;
 * the idle timeout can be changed on a live connection (policy reload) and switched off.
 */
import t from 'tap';
import { EventEmitter } from 'node:events';
import { encodeAdu } from '../../protocols/modbus/index.js';
import { MbapsConnection, type ConnectionDeps } from '../../gateway/frontdoor/mbaps-connection.js';
import { Session } from '../../gateway/frontdoor/session.js';

/** A TLS socket as the connection uses it: data in, writes out, pause/resume observed. */
class FakeSocket extends EventEmitter {
  paused = false;
  writableLength = 0;
  readonly written: Buffer[] = [];
  readonly timeouts: number[] = [];
  setNoDelay(): void {}
  setTimeout(ms: number): void {
    this.timeouts.push(ms);
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  write(b: Buffer): boolean {
    this.written.push(b);
    return true;
  }
}

const INVALID = Buffer.from([3, 0, 0, 0, 0]); // read holding registers, quantity 0: exception 03 [MB-APP 6.3]
const READ = Buffer.from([3, 0, 0, 0, 1]);

function setup(opts: { maxInFlight: number; routed: boolean }) {
  const socket = new FakeSocket();
  const peer = { id: 'spiffe://plant.example/hmi/1', role: null, notAfter: new Date(Date.now() + 3.6e6) };
  const session = new Session('mbaps', peer as never, 'x', 0, () => {});
  const pending: (() => void)[] = [];
  let refusals = 0;
  let handled = 0;
  const pipeline = {
    refused: (_s: Session, _f: unknown, _o: string, _r: string, answer: Buffer) => {
      refusals++;
      return new Promise<Buffer>((resolve) => pending.push(() => resolve(answer)));
    },
    handle: () => {
      handled++;
      return new Promise((resolve) => pending.push(() => resolve({ pdu: Buffer.from([3, 2, 0, 0]) })));
    },
    failed: () => Promise.resolve({ pdu: Buffer.from([0x83, 4]) }),
  };
  const deps = {
    routes: () => (opts.routed ? { device: {} as never, unit: 1 } : undefined),
    pipeline: pipeline as unknown as ConnectionDeps['pipeline'],
    maxInFlight: opts.maxInFlight,
  };
  const conn = new MbapsConnection(socket as never, session, deps);
  const send = (pdus: Buffer[]): void => {
    socket.emit('data', Buffer.concat(pdus.map((p, i) => encodeAdu(i + 1, 1, p))));
  };
  const release = async (): Promise<void> => {
    pending.shift()?.();
    await new Promise((r) => setImmediate(r));
  };
  return { socket, session, conn, send, release, refusals: () => refusals, handled: () => handled };
}

t.test('invalid PDUs pipelined past maxInFlight: the pump stops at the limit, one more per answer', async (t) => {
  const s = setup({ maxInFlight: 2, routed: true });
  s.send(Array.from({ length: 10 }, () => INVALID));
  t.equal(s.refusals(), 2, 'only maxInFlight refusals pending at once');
  t.equal(s.socket.paused, true, 'reading paused');
  await s.release();
  t.equal(s.refusals(), 3, 'an answered refusal frees its slot for the next frame');
  t.equal(s.socket.written.length, 1, 'its answer went out');
  for (let i = 0; i < 9; i++) await s.release();
  t.equal(s.refusals(), 10);
  t.equal(s.socket.paused, false, 'reading resumes once below the limit');
});

t.test('frames for no route count too, and share the limit with handled requests', async (t) => {
  const s = setup({ maxInFlight: 3, routed: false });
  s.send(Array.from({ length: 8 }, () => READ));
  t.equal(s.refusals(), 3, 'no-route refusals held at maxInFlight');
  t.equal(s.socket.paused, true);

  const mixed = setup({ maxInFlight: 2, routed: true });
  mixed.send([INVALID, READ, READ, INVALID]);
  t.equal(mixed.refusals() + mixed.handled(), 2, 'one refusal and one handled request fill the two slots');
  t.equal(mixed.socket.paused, true);
});

t.test('the idle timeout changes on a live connection (policy reload): re-armed, off with null', async (t) => {
  const s = setup({ maxInFlight: 1, routed: true });
  s.conn.setIdleTimeout(600_000);
  s.conn.setIdleTimeout(300);
  s.conn.setIdleTimeout(null);
  t.same(s.socket.timeouts, [600_000, 300, 0], 'the socket timeout follows; 0 switches it off');
  t.equal(s.socket.listenerCount('timeout'), 1, 'one listener however often it changes');
  s.socket.emit('timeout');
  t.equal(s.session.endReason, 'idle-timeout');
});
