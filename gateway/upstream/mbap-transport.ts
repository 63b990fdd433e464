/**
 * The default transport of a DevicePool: a TCP connection to the PLC (through the injected dialer) framed
 * with MBAP, each one a PlcConnection with its own transaction ids [MB-TCP 3.1.3, 4.4.1].
 */
import { defaultDialer } from './default-dialer.js';
import { PlcConnection } from './plc-connection.js';
import type { PlcDialer, UpstreamTransport } from './types.js';

export function mbapTransport(host: string, port: number, dialer: PlcDialer = defaultDialer): UpstreamTransport {
  return {
    target: `${host}:${port}`,
    async open(settings, signal) {
      const socket = await dialer(host, port, signal);
      // the pool's settings as they are: events, timers and the last-moment gate checked at each write
      return new PlcConnection(socket, settings);
    },
  };
}
