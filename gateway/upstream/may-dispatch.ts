/**
 * The last-moment gate every upstream client asks right before a queued request leaves for the device (the
 * Modbus pool before the ADU is staged and the connection again at the turn's write, plc-connection.ts; the
 * PROFINET client before each datagram of a request): its session has not ended (`signal`: a kill, a lock of
 * the identity, the end of its SVID), and the front door's re-check (`stillAllowed`: a lock that matches the
 * device) still lets it through. A grant that expires or is revoked meanwhile takes effect from the next
 * request, as documented; requests already queued under it still go. A gate that throws fails closed: the
 * request is not sent.
 */
export interface DispatchGated {
  readonly signal?: AbortSignal;
  readonly stillAllowed?: () => boolean;
}

export function mayDispatch(req: DispatchGated): boolean {
  if (req.signal?.aborted === true) return false;
  if (req.stillAllowed === undefined) return true;
  try {
    return req.stillAllowed();
  } catch {
    return false;
  }
}
