/**
 * Plain Modbus/TCP servers for the bench's alternating measurements (bench/paired-*.ts): each answers every
 * request at once, and `turns` lists which one served, one entry per switch, so a test can check the order in
 * which the measurement visited the paths.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { MbapFramer, encodeAdu } from '../../protocols/modbus/index.js';

export async function turnServers(names: readonly string[]) {
  const turns: string[] = [];
  const started = await Promise.all(
    names.map(async (name) => {
      const server = net.createServer((s) => {
        const framer = new MbapFramer();
        s.on('error', () => s.destroy());
        s.on('data', (chunk) => {
          framer.push(chunk);
          for (let r = framer.next(); r.kind === 'frame'; r = framer.next()) {
            if (turns.at(-1) !== name) turns.push(name);
            s.write(encodeAdu(r.frame.header.transactionId, r.frame.header.unitId, Buffer.from([3, 0])));
          }
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return { port: (server.address() as AddressInfo).port, server };
    }),
  );
  return {
    ports: started.map((s) => s.port),
    turns,
    close: () => Promise.all(started.map((s) => new Promise<void>((r) => s.server.close(() => r())))),
  };
}
