/**
 * Application relations the simulated device holds [IEC 61158-6-10 CM device state machines, as far as a
 * supervisor device-access AR needs them]. Only IOSAR (0x0006) with ARProperties.DeviceAccess is accepted:
 * an IOCAR (the PLC's controller AR) answers `DB 81 01 04` (AR type not supported — this device plays a
 * station whose PLC AR is not simulated, and a gateway must never open one); an IOSAR without DeviceAccess
 * `DB 81 01 09`; beyond the limit `DB 81 40 04` (out of AR resources); a second connect for a live ARUUID
 * `DB 81 40 06` (state conflict). An AR with no RPC activity for its timeout (CMInitiatorActivityTimeoutFactor
 * × 100 ms, or the scenario's override) is dropped, so a lost gateway does not hold the device's only AR.
 * Time is injected; expiry runs lazily on every use and from the simulator's sweep timer.
 */
import {
  ARType,
  isDeviceAccess,
  PnioErrors,
  pnioStatusFromU32,
  type ArBlockReq,
  type PnioStatus,
  type Uuid,
} from '../../protocols/profinet/index.js';

export const AR_PROPERTIES_NOT_SUPPORTED: PnioStatus = pnioStatusFromU32(0xdb810109);
export const AR_STATE_CONFLICT: PnioStatus = pnioStatusFromU32(0xdb814006);

export interface ArTableOptions {
  readonly max: number;
  readonly now: () => number;
  /** Overrides the initiator's activity timeout. */
  readonly activityTimeoutMs?: number;
  /** False: refuse device-access ARs like a stack without `DeviceAccessSupported`. */
  readonly deviceAccess?: boolean;
}

export interface ArInfo {
  readonly arUuid: Uuid;
  readonly sessionKey: number;
  readonly peer: string;
  readonly stationName: string;
  readonly timeoutMs: number;
  readonly established: number;
  readonly lastActivity: number;
}

export type ConnectOutcome =
  | { readonly ok: true; readonly ar: ArInfo }
  | { readonly ok: false; readonly status: PnioStatus; readonly why: string };

export class ArTable {
  readonly #ars = new Map<Uuid, ArInfo>();
  /** Called for each AR dropped by the activity timeout (logbook, counters). */
  onExpire: (ar: ArInfo) => void = () => {};

  constructor(private readonly o: ArTableOptions) {}

  get size(): number {
    return this.#ars.size;
  }

  connect(req: ArBlockReq, peer: string): ConnectOutcome {
    this.sweep();
    if (req.arType !== ARType.IOSAR || this.o.deviceAccess === false) {
      return {
        ok: false,
        status: PnioErrors.connectArTypeNotSupported,
        why: `ARType 0x${req.arType.toString(16)} not supported`,
      };
    }
    if (!isDeviceAccess(req.arProperties))
      return { ok: false, status: AR_PROPERTIES_NOT_SUPPORTED, why: 'IOSAR without DeviceAccess' };
    if (this.#ars.has(req.arUuid)) return { ok: false, status: AR_STATE_CONFLICT, why: 'AR already established' };
    if (this.#ars.size >= this.o.max)
      return {
        ok: false,
        status: PnioErrors.connectOutOfArResources,
        why: `${this.#ars.size} of ${this.o.max} ARs in use`,
      };
    const now = this.o.now();
    const factor = Math.max(1, req.activityTimeoutFactor);
    const ar: ArInfo = {
      arUuid: req.arUuid,
      sessionKey: req.sessionKey,
      peer,
      stationName: req.stationName,
      timeoutMs: this.o.activityTimeoutMs ?? factor * 100,
      established: now,
      lastActivity: now,
    };
    this.#ars.set(req.arUuid, ar);
    return { ok: true, ar };
  }

  /** A call inside the AR: refreshes its activity. Undefined when the AR is unknown (or just expired). */
  touch(arUuid: Uuid): ArInfo | undefined {
    this.sweep();
    const ar = this.#ars.get(arUuid);
    if (!ar) return undefined;
    const fresh = { ...ar, lastActivity: this.o.now() };
    this.#ars.set(arUuid, fresh);
    return fresh;
  }

  /** Release: the AR must exist and the session key match. */
  release(arUuid: Uuid, sessionKey: number): ArInfo | undefined {
    this.sweep();
    const ar = this.#ars.get(arUuid);
    if (!ar || ar.sessionKey !== sessionKey) return undefined;
    this.#ars.delete(arUuid);
    return ar;
  }

  /** Drop idle ARs; returns how many. */
  sweep(): number {
    const now = this.o.now();
    let n = 0;
    for (const [id, ar] of this.#ars) {
      if (now - ar.lastActivity >= ar.timeoutMs) {
        this.#ars.delete(id);
        n++;
        this.onExpire(ar);
      }
    }
    return n;
  }

  list(): ArInfo[] {
    return [...this.#ars.values()];
  }

  clear(): void {
    this.#ars.clear();
  }
}
