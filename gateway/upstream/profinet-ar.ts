/**
 * The gateway's one supervisor device-access AR per device [IEC 61158-6-10 ARBlockReq: ARType 0x0006
 * IOSAR, ARProperties.DeviceAccess = 1, ARBlockReq only — no IOCR, AlarmCR or ExpectedSubmodule blocks].
 * Writes need an AR; this one is opened on demand before the first write, reused, released after
 * `arIdleMs` without use (before the device's own CMInitiatorActivityTimeout would drop it), and forgotten
 * when the device answers "unknown AR" (it restarted or timed the AR out) so the next use opens a new one.
 *
 * A controller AR (IOCAR, 0x0001) is never built here: it belongs to the PLC, and a second controller
 * would take the device over while the PLC is down. The connect request is assembled in one place below
 * with the ARType and properties fixed, and refuses to leave if they were ever anything else.
 *
 * Each AR gets its own activity UUID (connect, its writes and its release share it, sequence numbers
 * counting up): device stacks key their CM sessions by activity.
 *
 * A connect the device may have run without the gateway learning of it — no answer, a malformed answer, an
 * RPC fault — may hold one of the device's few AR slots (many allow one device-access AR) until the device's
 * CMInitiatorActivityTimeout, refusing every later connect `out of AR resources`. So that AR is released
 * anyway: one Release, in a turn of its own before the next request (`onIdle`), never retried. Releasing an
 * AR the device never established is harmless (it answers an error the gateway only logs).
 */
import {
  ARType,
  DEVICE_ACCESS_AR_PROPERTIES,
  isDeviceAccess,
  isPnioOk,
  type CmRequest,
  type Uuid,
} from '../../protocols/profinet/index.js';
import type { ResolvedProfinetOptions } from './profinet-options.js';
import { failedOutcome, pnioError } from './profinet-results.js';
import type { ProfinetTransport } from './profinet-transport.js';
import type { ProfinetResult, TimerHandle } from './profinet-types.js';

export interface ArSession {
  readonly arUuid: Uuid;
  readonly sessionKey: number;
  readonly activity: Uuid;
  seq: number;
}

export type ArOpen =
  { readonly ok: true; readonly ar: ArSession } | { readonly ok: false; readonly result: ProfinetResult };

/** NDR ArgsMaximum of connect/release/write calls: their answers are a few dozen bytes. */
export const SMALL_ARGS_MAXIMUM = 1024;

export class SupervisorAr {
  readonly #o: ResolvedProfinetOptions;
  readonly #transport: ProfinetTransport;
  readonly #onIdle: () => void;
  #current?: ArSession;
  /** An AR whose connect may have run on the device unconfirmed: released in the next turn. */
  #unconfirmed?: ArSession;
  #sessionKey = 0;
  #idle?: TimerHandle;
  #lostOne = false;
  readonly counters = { established: 0, released: 0, reestablished: 0 };

  constructor(o: ResolvedProfinetOptions, transport: ProfinetTransport, onIdle: () => void) {
    this.#o = o;
    this.#transport = transport;
    this.#onIdle = onIdle;
  }

  get current(): ArSession | undefined {
    return this.#current;
  }

  /** The open AR, or a connect now. `mayTransmit` gates the connect datagram like any request. */
  async open(mayTransmit: () => boolean): Promise<ArOpen> {
    if (this.#current !== undefined) {
      // In use again: no idle countdown while a call runs on it (`touch()` restarts it after the call).
      this.#stopIdle();
      return { ok: true, ar: this.#current };
    }
    this.#sessionKey = (this.#sessionKey + 1) & 0xffff || 1;
    const ar: ArSession = {
      arUuid: this.#o.randomUuid(),
      sessionKey: this.#sessionKey,
      activity: this.#o.randomUuid(),
      seq: 0,
    };
    const request = this.#connectRequest(ar);
    const out = await this.#transport.call({
      activity: ar.activity,
      sequenceNumber: ar.seq++,
      request,
      transmissions: 1,
      mayTransmit,
    });
    if (out.kind !== 'answer') {
      // Not sent (gate, closed socket): nothing to release. Otherwise the device may hold the AR now.
      if (out.kind !== 'not-sent' && !(out.kind === 'aborted' && !out.sent)) this.#releaseLater(ar);
      return { ok: false, result: failedOutcome(out, 'connect') };
    }
    // A PNIOStatus is the device's refusal: it holds no AR for this connect.
    if (!isPnioOk(out.response.status)) return { ok: false, result: pnioError(out.response.status, 'connect') };
    this.#current = ar;
    this.counters.established++;
    if (this.#lostOne) this.counters.reestablished++;
    this.#lostOne = false;
    this.#o.logger.info({ device: this.#o.name, ar: ar.arUuid }, 'device-access AR established');
    return { ok: true, ar };
  }

  /** Next RPC sequence number on the AR's activity. */
  nextSeq(ar: ArSession): number {
    const s = ar.seq;
    ar.seq = (ar.seq + 1) >>> 0;
    return s;
  }

  /** The device no longer knows the AR: forget it without a release (there is nothing to release). */
  forget(ar: ArSession): void {
    if (this.#current !== ar) return;
    this.#current = undefined;
    this.#lostOne = true;
    this.#stopIdle();
    this.#o.logger.info(
      { device: this.#o.name, ar: ar.arUuid },
      'device says unknown AR; a new one opens on the next use',
    );
  }

  /** (Re)starts the idle countdown after a use of the AR. */
  touch(): void {
    this.#stopIdle();
    if (this.#current === undefined) return;
    this.#idle = this.#o.timers.setTimeout(() => {
      this.#idle = undefined;
      this.#onIdle();
    }, this.#o.arIdleMs);
    // An idle AR alone must not keep a process alive (real timers have unref; fakes need not).
    (this.#idle as { unref?: () => void } | undefined)?.unref?.();
  }

  /**
   * Releases the AR, and first an unconfirmed one (one Release call each, never retried: the device's activity
   * timeout is the backstop).
   */
  async release(): Promise<void> {
    const unconfirmed = this.#unconfirmed;
    this.#unconfirmed = undefined;
    if (unconfirmed !== undefined) await this.#sendRelease(unconfirmed, 'unconfirmed device-access AR released');
    const ar = this.#current;
    if (ar === undefined) return;
    this.#current = undefined;
    this.#stopIdle();
    await this.#sendRelease(ar, 'device-access AR released');
  }

  /** The connect of `ar` went out and its fate is unknown: release it in a turn of its own. */
  #releaseLater(ar: ArSession): void {
    this.#unconfirmed = ar;
    this.#o.logger.warn(
      { device: this.#o.name, ar: ar.arUuid },
      'AR connect without a valid answer: the device may hold the AR; releasing it',
    );
    this.#onIdle();
  }

  async #sendRelease(ar: ArSession, what: string): Promise<void> {
    const request: CmRequest = {
      op: 'release',
      argsMaximum: SMALL_ARGS_MAXIMUM,
      control: {
        blockType: 0x0114,
        arUuid: ar.arUuid,
        sessionKey: ar.sessionKey,
        alarmSequenceNumber: 0,
        controlCommand: 0x0004,
        controlBlockProperties: 0,
      },
    };
    const out = await this.#transport.call({
      activity: ar.activity,
      sequenceNumber: this.nextSeq(ar),
      request,
      transmissions: 1,
      mayTransmit: () => true,
    });
    this.counters.released++;
    const how = out.kind === 'answer' ? (isPnioOk(out.response.status) ? 'ok' : 'pnio-error') : out.kind;
    this.#o.logger.info({ device: this.#o.name, ar: ar.arUuid, outcome: how }, what);
  }

  #stopIdle(): void {
    if (this.#idle !== undefined) this.#o.timers.clearTimeout(this.#idle);
    this.#idle = undefined;
  }

  #connectRequest(ar: ArSession): CmRequest {
    const req: CmRequest = {
      op: 'connect',
      argsMaximum: SMALL_ARGS_MAXIMUM,
      ar: {
        arType: ARType.IOSAR,
        arUuid: ar.arUuid,
        sessionKey: ar.sessionKey,
        initiatorMac: this.#o.initiatorMac,
        initiatorObjectUuid: this.#o.initiatorObjectUuid,
        arProperties: DEVICE_ACCESS_AR_PROPERTIES,
        activityTimeoutFactor: this.#o.arActivityTimeoutFactor,
        // The gateway opens no RT frames; the field is the initiator's UDP-RT port (0x8892 by convention).
        initiatorUdpRtPort: 0x8892,
        stationName: this.#o.stationName,
      },
      otherBlocks: [],
    };
    // Never an IOCAR, never with IOCR/expected-submodule blocks: a programmer error if it ever happens.
    if (req.ar.arType !== ARType.IOSAR || !isDeviceAccess(req.ar.arProperties) || req.otherBlocks.length !== 0) {
      throw new Error('profinet-ar: refusing to build anything but a device-access IOSAR connect (bug)');
    }
    return req;
  }
}
