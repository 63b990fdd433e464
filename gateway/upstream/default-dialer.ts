/**
 * Default PlcDialer: plain TCP with Nagle off (a Modbus ADU is one small write; docs/architecture.md
 * "Lessons from Modbus proxies") and TCP keep-alive so a dead PLC link is noticed even when idle.
 */
import net from 'node:net';
import type { PlcDialer } from './types.js';

const KEEPALIVE_INITIAL_DELAY_MS = 10_000;

export const defaultDialer: PlcDialer = (host, port, signal) =>
  new Promise<net.Socket>((resolve, reject) => {
    if (signal.aborted) {
      reject(new Error(`connect to ${host}:${port} aborted`));
      return;
    }
    const socket = net.connect({
      host,
      port,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: KEEPALIVE_INITIAL_DELAY_MS,
    });
    const onAbort = (): void => {
      cleanup();
      socket.destroy();
      reject(new Error(`connect to ${host}:${port} timed out or was aborted`));
    };
    const cleanup = (): void => {
      signal.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      socket.off('connect', onConnect);
    };
    const onError = (err: Error): void => {
      cleanup();
      socket.destroy();
      reject(err);
    };
    const onConnect = (): void => {
      cleanup();
      socket.setNoDelay(true);
      resolve(socket);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('error', onError);
    socket.once('connect', onConnect);
  });
