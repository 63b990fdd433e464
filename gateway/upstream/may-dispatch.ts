/**
 * The last-moment gate every upstream client asks right before a queued request leaves for the device (the
 * Modbus pool before the ADU is staged, the PROFINET client before each datagram of a request): its session
 * has not ended (`signal`), and the front door's re-check (`stillAllowed`: a lock, a kill, an expired grant)
 * still lets it through. A gate that throws fails closed: the request is not sent.
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
