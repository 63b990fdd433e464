/**
 * Where a simulated RTU line is served: a serial port path (a PTY from `socat` in tests and the lab, or a real
 * adapter) opened with the `serialport` package, and/or a TCP port where each connection carries raw RTU
 * frames like a serial device server. Both feed the same units through serveRtu.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { SerialPort } from 'serialport';
import type { LineFormat } from '../protocols/modbus/index.js';
import { serveRtu, type RtuServerOptions } from './rtu-server.js';

export interface RtuListenOptions {
  /** Serial port (or PTY) to serve on. */
  readonly serialPath?: string;
  /** TCP port for raw RTU over TCP (0 = ephemeral); absent = none. */
  readonly tcpPort?: number;
  readonly host?: string;
}

export interface RtuListeners {
  /** Bound RTU-over-TCP port, or null. */
  readonly tcpPort: number | null;
  close(): Promise<void>;
}

export async function startRtuListeners(l: RtuListenOptions, o: RtuServerOptions): Promise<RtuListeners> {
  const port = l.serialPath !== undefined ? await openSerial(l.serialPath, o.format) : null;
  if (port) serveRtu(port, o);
  // a device server delimits frames by the line's silence and sends each in one TCP segment
  const framed: RtuServerOptions = { ...o, pace: o.pace === 'none' ? 'none' : 'frame' };
  let server: Server | null = null;
  const sockets = new Set<Socket>();
  if (l.tcpPort !== undefined) {
    server = createServer({ noDelay: true }, (s) => {
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      serveRtu(s, framed);
    });
    await new Promise<void>((resolve, reject) => {
      server?.once('error', reject);
      server?.listen(l.tcpPort, l.host ?? '127.0.0.1', () => resolve());
    });
  }
  return {
    tcpPort: server ? (server.address() as AddressInfo).port : null,
    async close() {
      for (const s of sockets) s.destroy();
      if (server) await new Promise<void>((resolve) => server?.close(() => resolve()));
      if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    },
  };
}

function openSerial(path: string, f: LineFormat): Promise<SerialPort> {
  return new Promise((resolve, reject) => {
    const port = new SerialPort({
      path,
      baudRate: f.baudRate,
      dataBits: f.dataBits,
      parity: f.parity,
      stopBits: f.stopBits,
      autoOpen: false,
    });
    port.open((err) => (err ? reject(new Error(`simulator: cannot open ${path}: ${err.message}`)) : resolve(port)));
  });
}
