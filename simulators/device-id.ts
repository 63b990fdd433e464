/**
 * FC43 / MEI 14 Read Device Identification [MB-APP 6.21], basic category only: objects 0 VendorName,
 * 1 ProductCode, 2 MajorMinorRevision. Conformity level 0x81 = basic, stream and individual access.
 * - Stream access (codes 1–3): all basic objects from `objectId`; an unknown object id restarts at 0, as the
 *   spec asks. Codes 2/3 (regular/extended) answer the basic objects, which is all this device has.
 * - Individual access (code 4): exactly the object asked for; an unknown id answers exception 02.
 */
import type { DeviceIdObject, DeviceIdRequest, ModbusResponse } from '../protocols/modbus/index.js';
import { ExceptionCode } from '../protocols/modbus/types.js';
import type { DeviceIdentification } from './scenario.js';

const CONFORMITY_BASIC_STREAM_AND_INDIVIDUAL = 0x81;
const INDIVIDUAL_ACCESS = 4;

type Outcome =
  { readonly ok: true; readonly res: ModbusResponse } | { readonly ok: false; readonly exception: ExceptionCode };

export function readDeviceId(req: DeviceIdRequest, device: DeviceIdentification): Outcome {
  const basic: DeviceIdObject[] = [device.vendorName, device.productCode, device.revision].map((v, id) => ({
    id,
    value: Buffer.from(v, 'latin1'),
  }));
  let objects: DeviceIdObject[];
  if (req.readDeviceIdCode === INDIVIDUAL_ACCESS) {
    const one = basic[req.objectId];
    if (!one) return { ok: false, exception: ExceptionCode.IllegalDataAddress };
    objects = [one];
  } else {
    objects = basic.slice(req.objectId < basic.length ? req.objectId : 0);
  }
  return {
    ok: true,
    res: {
      type: 'device-id',
      fc: 43,
      meiType: 14,
      readDeviceIdCode: req.readDeviceIdCode,
      conformityLevel: CONFORMITY_BASIC_STREAM_AND_INDIVIDUAL,
      moreFollows: false,
      nextObjectId: 0,
      objects,
    },
  };
}
