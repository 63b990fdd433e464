/**
 * Scapy (PyPI; scapy.layers.dcerpc DceRpc4 + scapy.contrib.pnio_rpc) as an independent PNIO-CM codec:
 * it builds Read Implicit, Write and Connect requests in both byte orders whose bytes must equal ours, and it
 * decodes our requests and answers field by field. A missing Scapy fails the test (never a skip).
 */
import t from 'tap';
import {
  encodeCmRequest,
  encodeCmResponse,
  encodeIm0,
  PNIO_DEVICE_INTERFACE,
  PNIO_OK,
  PnioErrors,
  pnioStatusToU32,
  type CmRequest,
  type CmResponse,
} from '../../protocols/profinet/index.js';
import {
  ACTIVITY,
  AR_UUID,
  call,
  CONNECT_DA,
  OBJECT,
  READ_IM0,
  RELEASE_DA,
  WRITE_PARAM,
} from '../fixtures/profinet/calls.js';
import { runScapy, type ScapyFields, type ScapyJob } from '../helpers/scapy-pnio.js';

const scapyCall = (le: boolean, seq = 7) => ({
  le,
  seq,
  object: OBJECT,
  interface: PNIO_DEVICE_INTERFACE,
  activity: ACTIVITY,
});

t.test('Scapy builds the same request bytes as we do (Read Implicit, Write, Connect; both byte orders)', async (t) => {
  const jobs: ScapyJob[] = [];
  const ours: string[] = [];
  for (const le of [false, true]) {
    const r = READ_IM0.record;
    jobs.push({
      do: 'build',
      kind: 'read-implicit',
      call: scapyCall(le),
      argsMaximum: READ_IM0.argsMaximum,
      record: {
        seq: r.sequenceNumber,
        api: r.api,
        slot: r.slot,
        subslot: r.subslot,
        index: r.index,
        length: r.recordDataLength,
        target: r.targetArUuid,
      },
    });
    ours.push(encodeCmRequest(call(le), READ_IM0).datagrams[0]?.toString('hex') ?? '');
    const targeted = {
      ...READ_IM0,
      record: { ...r, targetArUuid: AR_UUID, slot: 3, subslot: 0x8001, index: 0xf830, api: 0x3a00 },
    };
    const tr = targeted.record;
    jobs.push({
      do: 'build',
      kind: 'read-implicit',
      call: scapyCall(le),
      argsMaximum: 4096,
      record: {
        seq: tr.sequenceNumber,
        api: tr.api,
        slot: tr.slot,
        subslot: tr.subslot,
        index: tr.index,
        length: tr.recordDataLength,
        target: tr.targetArUuid,
      },
    });
    ours.push(encodeCmRequest(call(le), targeted).datagrams[0]?.toString('hex') ?? '');
    const w = WRITE_PARAM.record;
    jobs.push({
      do: 'build',
      kind: 'write',
      call: scapyCall(le, 8),
      argsMaximum: WRITE_PARAM.argsMaximum,
      record: {
        seq: w.sequenceNumber,
        ar: w.arUuid,
        api: w.api,
        slot: w.slot,
        subslot: w.subslot,
        index: w.index,
        data: WRITE_PARAM.data.toString('hex'),
      },
    });
    ours.push(encodeCmRequest(call(le, 8), WRITE_PARAM).datagrams[0]?.toString('hex') ?? '');
    jobs.push({
      do: 'build',
      kind: 'connect',
      call: scapyCall(le, 9),
      argsMaximum: CONNECT_DA.argsMaximum,
      ar: CONNECT_DA.ar,
    });
    ours.push(encodeCmRequest(call(le, 9), CONNECT_DA).datagrams[0]?.toString('hex') ?? '');
  }
  const built = await runScapy(jobs);
  const names = ['read implicit', 'read implicit with TargetARUUID', 'write', 'connect (device-access IOSAR)'];
  built.forEach((hex, i) =>
    t.equal(hex, ours[i], `${names[i % 4]} ${i < 4 ? 'big' : 'little'}-endian: Scapy's bytes = ours`),
  );
});

const IM0 = encodeIm0({
  vendorId: 0x2a,
  orderId: 'ORDER-1',
  serialNumber: 'SN-42',
  hardwareRevision: 3,
  softwareRevisionPrefix: 'V',
  softwareRevision: [4, 2, 1],
  revisionCounter: 5,
  profileId: 0xf600,
  profileSpecificType: 3,
  imVersion: [1, 1],
  imSupported: 0x1e,
});

function exchange(req: CmRequest, res: CmResponse, le: boolean, seq: number): [string, string] {
  const { header, datagrams } = encodeCmRequest(call(le, seq), req);
  const answer = encodeCmResponse(header, res, { maximumCount: req.argsMaximum, littleEndian: le }).datagrams;
  return [datagrams[0]?.toString('hex') ?? '', answer[0]?.toString('hex') ?? ''];
}

t.test('Scapy decodes our requests and answers field by field', async (t) => {
  const readRes: CmResponse = {
    op: 'read-implicit',
    status: PNIO_OK,
    record: { ...READ_IM0.record, recordDataLength: IM0.length, additionalValue1: 0, additionalValue2: 0 },
    data: IM0,
  };
  const writeRes: CmResponse = {
    op: 'write',
    status: PnioErrors.writeLength,
    record: { ...WRITE_PARAM.record, additionalValue1: 1, additionalValue2: 2, status: PnioErrors.writeLength },
  };
  const connectRes: CmResponse = {
    op: 'connect',
    status: PNIO_OK,
    ar: { arType: 6, arUuid: AR_UUID, sessionKey: 1, responderMac: '02:00:00:00:00:99', responderUdpRtPort: 0x8892 },
    otherBlocks: [],
  };
  const releaseRes: CmResponse = {
    op: 'release',
    status: PNIO_OK,
    control: { ...RELEASE_DA.control, blockType: 0x8114, controlCommand: 0x0008 },
  };
  const errRes: CmResponse = { op: 'read-implicit', status: PnioErrors.readInvalidIndex, data: Buffer.alloc(0) };
  const pairs = [true, false].flatMap((le) => [
    exchange(READ_IM0, readRes, le, 1),
    exchange(WRITE_PARAM, writeRes, le, 2),
    exchange(CONNECT_DA, connectRes, le, 3),
    exchange(RELEASE_DA, releaseRes, le, 4),
    exchange(READ_IM0, errRes, le, 5),
  ]);
  const parsed = (await runScapy(pairs.flat().map((hex) => ({ do: 'parse', hex })))) as ScapyFields[];
  for (let k = 0; k < 2; k++) {
    const le = k === 0;
    const [readQ, readA, writeQ, writeA, connQ, connA, relQ, relA, errQ, errA] = parsed.slice(k * 10, k * 10 + 10);
    const tag = le ? 'LE' : 'BE';
    t.match(
      readQ,
      {
        rpc_vers: 4,
        ptype: 0,
        endian: le ? 1 : 0,
        object: OBJECT,
        if_id: PNIO_DEVICE_INTERFACE,
        act_id: ACTIVITY,
        seqnum: 1,
        opnum: 5,
        len: 84,
        fragnum: 0,
        if_vers: 1,
      },
      `${tag} read request RPC header`,
    );
    t.match(
      readQ,
      { pdu: 'PNIOServiceReqPDU', args_max: 4096, args_length: 64, max_count: 4096, offset: 0, actual_count: 64 },
      `${tag} read request NDR`,
    );
    t.match(
      readQ?.blocks?.[0],
      {
        class: 'IODReadReq',
        block_type: 9,
        block_length: 60,
        seqNum: 3,
        ARUUID: '00000000-0000-0000-0000-000000000000',
        API: 0,
        slotNumber: 0,
        subslotNumber: 1,
        index: 0xaff0,
        recordDataLength: 4096,
      },
      `${tag} IODReadReqHeader`,
    );
    t.match(
      readA,
      {
        ptype: 2,
        endian: le ? 1 : 0,
        act_id: ACTIVITY,
        seqnum: 1,
        opnum: 5,
        pdu: 'PNIOServiceResPDU',
        status: 0,
        args_length: 64 + IM0.length,
        max_count: 4096,
        actual_count: 64 + IM0.length,
      },
      `${tag} read answer`,
    );
    t.match(
      readA?.blocks?.[0],
      { class: 'IODReadRes', block_type: 0x8009, index: 0xaff0, recordDataLength: IM0.length, additionalValue1: 0 },
      `${tag} IODReadResHeader`,
    );
    t.match(
      readA?.blocks?.[1],
      {
        class: 'IM0Block',
        block_type: 0x20,
        block_length: 56,
        VendorIDLow: 0x2a,
        OrderID: Buffer.from('ORDER-1'.padEnd(20)).toString('hex'),
        IMSerialNumber: Buffer.from('SN-42'.padEnd(16)).toString('hex'),
        IMHardwareRevision: 3,
        IMSWRevisionFunctionalEnhancement: 4,
        IMSWRevisionBugFix: 2,
        IMSWRevisionInternalChange: 1,
        IMRevisionCounter: 5,
        IMProfileID: 0xf600,
        IMProfileSpecificType: 3,
        IMVersionMajor: 1,
        IMVersionMinor: 1,
        IMSupported: 0x1e,
      },
      `${tag} I&M0 record`,
    );
    t.match(
      writeQ?.blocks?.[0],
      {
        class: 'IODWriteReq',
        block_type: 8,
        seqNum: 4,
        ARUUID: AR_UUID,
        slotNumber: 1,
        subslotNumber: 1,
        index: 0x10,
        recordDataLength: 4,
        payload: '006401f4',
      },
      `${tag} IODWriteReqHeader + data`,
    );
    t.match(
      writeA,
      { opnum: 3, status: pnioStatusToU32(PnioErrors.writeLength) },
      `${tag} write answer status (u32 in DREP order)`,
    );
    t.match(
      writeA?.blocks?.[0],
      {
        class: 'IODWriteRes',
        block_type: 0x8008,
        index: 0x10,
        recordDataLength: 4,
        additionalValue1: 1,
        additionalValue2: 2,
        status: 0xdf80b100,
      },
      `${tag} IODWriteResHeader`,
    );
    t.match(
      connQ?.blocks?.[0],
      {
        class: 'ARBlockReq',
        ARType: 6,
        ARUUID: AR_UUID,
        SessionKey: 1,
        CMInitiatorMacAdd: '02:00:00:00:00:01',
        ARProperties_DeviceAccess: 1,
        ARProperties_State: 1,
        ARProperties_ParametrizationServer: 1,
        CMInitiatorActivityTimeoutFactor: 100,
        CMInitiatorUDPRTPort: 0x8892,
        StationNameLength: 8,
        CMInitiatorStationName: Buffer.from('verigate').toString('hex'),
      },
      `${tag} ARBlockReq`,
    );
    t.match(
      connA?.blocks?.[0],
      {
        class: 'ARBlockRes',
        ARType: 6,
        ARUUID: AR_UUID,
        SessionKey: 1,
        CMResponderMacAdd: '02:00:00:00:00:99',
        CMResponderUDPRTPort: 0x8892,
      },
      `${tag} ARBlockRes`,
    );
    t.match(
      relQ?.blocks?.[0],
      { class: 'IODControlReq', block_type: 0x0114, ARUUID: AR_UUID, SessionKey: 1, ControlCommand_Release: 1 },
      `${tag} release request`,
    );
    t.match(
      relA?.blocks?.[0],
      { class: 'IODControlRes', block_type: 0x8114, ARUUID: AR_UUID, ControlCommand_Done: 1 },
      `${tag} release answer`,
    );
    t.match(errQ, { opnum: 5 });
    t.match(
      errA,
      { status: 0xde80b00a, args_length: 0, blocks: [] },
      `${tag} error answer: PNIOStatus DE 80 B0 0A, no blocks`,
    );
  }
});
