/**
 * The one UDP socket of a PROFINET transport (profinet-transport.ts): opened on first use, bound to the configured
 * local address, and dropped when it fails — an 'error' event, or a send that throws — so the next datagram opens
 * a new one. A send that throws at once (ERR_SOCKET_DGRAM_NOT_RUNNING on a closed socket, a bad port, a descriptor
 * gone) comes back as a value: sends run inside timer and socket callbacks, where a throw ends the process.
 */
import dgram from 'node:dgram';
import { errorMessage } from '../errors.js';
import type { ResolvedProfinetOptions } from './profinet-options.js';

export class ProfinetSocket {
  readonly #o: ResolvedProfinetOptions;
  readonly #onMessage: (msg: Buffer, address: string) => void;
  #socket?: dgram.Socket;

  constructor(o: ResolvedProfinetOptions, onMessage: (msg: Buffer, address: string) => void) {
    this.#o = o;
    this.#onMessage = onMessage;
  }

  /** A socket is open (an answer to what was sent can still arrive on it). */
  get open(): boolean {
    return this.#socket !== undefined;
  }

  /**
   * Hands `dg` to the socket, opening one first if needed. Returns why it could not (nothing was handed over), or
   * undefined; an error the kernel reports afterwards (that datagram did not leave) goes to `failed`.
   */
  send(dg: Buffer, failed: (err: Error) => void): string | undefined {
    const s = this.#ensure();
    if (s === undefined) return 'UDP socket could not be opened';
    try {
      s.send(dg, this.#o.port, this.#o.host, (err) => {
        if (err instanceof Error) failed(err);
      });
      return undefined;
    } catch (err) {
      const msg = errorMessage(err);
      this.#o.logger.warn({ device: this.#o.name, err: msg }, 'PNIO-CM send threw; the socket is reopened');
      this.#drop(s);
      return `send failed: ${msg}`;
    }
  }

  close(): void {
    if (this.#socket !== undefined) this.#drop(this.#socket);
  }

  #ensure(): dgram.Socket | undefined {
    if (this.#socket !== undefined) return this.#socket;
    try {
      const s = dgram.createSocket({ type: this.#o.family });
      s.on('message', (msg, rinfo) => this.#onMessage(msg, rinfo.address));
      s.on('error', (err) => {
        this.#o.logger.warn(
          { device: this.#o.name, err: err.message },
          'PNIO-CM socket error; reopening on the next call',
        );
        this.#drop(s);
      });
      s.bind({ port: 0, ...(this.#o.localAddress !== undefined ? { address: this.#o.localAddress } : {}) });
      s.unref();
      this.#socket = s;
      return s;
    } catch (err) {
      this.#o.logger.warn({ device: this.#o.name, err: errorMessage(err) }, 'PNIO-CM socket could not be opened');
      return undefined;
    }
  }

  /** Forgets `s` (the next datagram opens a new socket) and closes it; one closed already stays closed. */
  #drop(s: dgram.Socket): void {
    if (this.#socket === s) this.#socket = undefined;
    try {
      s.close();
    } catch {
      // ERR_SOCKET_DGRAM_NOT_RUNNING: closed already, nothing left to free
    }
  }
}
