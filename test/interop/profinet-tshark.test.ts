/**
 * tshark (Debian; Wireshark's DCE/RPC and PN-IO dissectors) decodes our PNIO-CM requests and answers field
 * by field, in both byte orders, from a pcap this test writes (IPv4/UDP to port 34964, a file only). The
 * WireGuard heuristic is switched off: it claims any UDP payload starting 04 00 00 00. A missing tshark
 * fails the test (never a skip).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  encodeCmRequest,
  encodeCmResponse,
  encodeDiagnosis,
  encodeIm0,
  encodeLogBook,
  PNIO_CM_UDP_PORT,
  PNIO_OK,
  PnioErrors,
  Usi,
  type CmRequest,
  type CmResponse,
} from '../../protocols/profinet/index.js';
import { ACTIVITY, AR_UUID, call, CONNECT_DA, READ_IM0, RELEASE_DA, WRITE_PARAM } from '../fixtures/profinet/calls.js';
import { writePcap, type PcapDatagram } from '../helpers/pcap.js';
import { requireTool } from '../helpers/tools.js';

const FIELDS = [
  'frame.number',
  'dcerpc.ver',
  'dcerpc.pkt_type',
  'dcerpc.drep.byteorder',
  'dcerpc.dg_act_id',
  'dcerpc.dg_seqnum',
  'dcerpc.opnum',
  'dcerpc.dg_frag_len',
  'dcerpc.dg_frag_num',
  'dcerpc.dg_if_id',
  'pn_io.args_max',
  'pn_io.args_len',
  'pn_io.array_max_count',
  'pn_io.array_offset',
  'pn_io.array_act_count',
  'pn_io.error_code',
  'pn_io.error_decode',
  'pn_io.error_code1',
  'pn_io.error_code2',
  'pn_io.block_type',
  'pn_io.block_length',
  'pn_io.seq_number',
  'pn_io.ar_uuid',
  'pn_io.api',
  'pn_io.slot_nr',
  'pn_io.subslot_nr',
  'pn_io.index',
  'pn_io.record_data_length',
  'pn_io.target_ar_uuid',
  'pn_io.add_val1',
  'pn_io.add_val2',
  'pn_io.ar_type',
  'pn_io.session_key',
  'pn_io.ar_properties.device_access',
  'pn_io.ar_properties.state',
  'pn_io.cminitiator_station_name',
  'pn_io.cminitiator_activitytimeoutfactor',
  'pn_io.cmresponder_macadd',
  'pn_io.control_command.release',
  'pn_io.control_command.done',
  'pn_io.vendor_id_low',
  'pn_io.order_id',
  'pn_io.im_serial_number',
  'pn_io.im_hardware_revision',
  'pn_io.im_sw_revision_functional_enhancement',
  'pn_io.im_revision_counter',
  'pn_io.im_supported',
  'pn_io.channel_number',
  'pn_io.channel_error_type',
  'pn_io.user_structure_identifier',
  'pn_io.number_of_log_entries',
  'pn_io.entry_detail',
] as const;
type Row = Record<(typeof FIELDS)[number], string>;

function tshark(pcap: string): Promise<Row[]> {
  const bin = requireTool('tshark');
  const args = [
    '--disable-protocol',
    'wg',
    '-r',
    pcap,
    '-T',
    'fields',
    '-E',
    'separator=\t',
    '-E',
    'occurrence=a',
    '-E',
    'aggregator=,',
  ];
  for (const f of FIELDS) args.push('-e', f);
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout: 60_000, maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`tshark failed: ${err.message}\n${stderr}`));
      resolve(
        stdout
          .trim()
          .split('\n')
          .map((line) => Object.fromEntries(line.split('\t').map((v, i) => [FIELDS[i], v])) as Row),
      );
    });
  });
}

/** PDML of one frame, for fields whose `-T fields` text is not their value (ARType of a request). */
function tsharkPdml(pcap: string, frame: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      requireTool('tshark'),
      ['--disable-protocol', 'wg', '-r', pcap, '-Y', `frame.number==${frame}`, '-T', 'pdml'],
      { timeout: 60_000, maxBuffer: 8 * 1024 * 1024 },
      (err, stdout, stderr) => (err ? reject(new Error(`tshark failed: ${err.message}\n${stderr}`)) : resolve(stdout)),
    );
  });
}

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
const DIAG = encodeDiagnosis(
  [
    {
      api: 0,
      slot: 1,
      subslot: 1,
      channelNumber: 0x8000,
      channelProperties: 0x0800,
      usi: Usi.ChannelDiagnosis,
      channels: [{ channelNumber: 3, channelProperties: 0x0800, channelErrorType: 1 }],
    },
  ],
  0,
);
const LOGBOOK = encodeLogBook({
  actualLocalTimeStamp: '0000018f2a3b4c5d',
  entries: [
    { localTimeStamp: '0000018f2a3b0000', arUuid: AR_UUID, status: PnioErrors.writeAccessDenied, entryDetail: 7 },
  ],
});

const readOf = (index: number, data: Buffer): [CmRequest, CmResponse] => {
  const req = { ...READ_IM0, record: { ...READ_IM0.record, index, slot: 1, subslot: 1 } };
  return [
    req,
    {
      op: 'read-implicit',
      status: PNIO_OK,
      record: { ...req.record, recordDataLength: data.length, additionalValue1: 0, additionalValue2: 0 },
      data,
    },
  ];
};

const EXCHANGES: [CmRequest, CmResponse][] = [
  [
    READ_IM0,
    {
      op: 'read-implicit',
      status: PNIO_OK,
      record: { ...READ_IM0.record, recordDataLength: IM0.length, additionalValue1: 0, additionalValue2: 0 },
      data: IM0,
    },
  ],
  [
    WRITE_PARAM,
    {
      op: 'write',
      status: PnioErrors.writeLength,
      record: { ...WRITE_PARAM.record, additionalValue1: 0, additionalValue2: 0, status: PnioErrors.writeLength },
    },
  ],
  [
    CONNECT_DA,
    {
      op: 'connect',
      status: PNIO_OK,
      ar: { arType: 6, arUuid: AR_UUID, sessionKey: 1, responderMac: '02:00:00:00:00:99', responderUdpRtPort: 0x8892 },
      otherBlocks: [],
    },
  ],
  [
    RELEASE_DA,
    { op: 'release', status: PNIO_OK, control: { ...RELEASE_DA.control, blockType: 0x8114, controlCommand: 0x0008 } },
  ],
  [READ_IM0, { op: 'read-implicit', status: PnioErrors.readInvalidIndex, data: Buffer.alloc(0) }],
  readOf(0x800a, DIAG),
  readOf(0xf830, LOGBOOK),
];

t.test('tshark decodes our requests and answers field by field (both byte orders)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pnio-tshark-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const datagrams: PcapDatagram[] = [];
  for (const le of [false, true]) {
    EXCHANGES.forEach(([req, res], i) => {
      const q = encodeCmRequest(call(le, (le ? 100 : 0) + i), req);
      const a = encodeCmResponse(q.header, res, { maximumCount: req.argsMaximum, littleEndian: le });
      datagrams.push({ payload: q.datagrams[0] as Buffer, srcPort: 49152, dstPort: PNIO_CM_UDP_PORT });
      datagrams.push({ payload: a.datagrams[0] as Buffer, srcPort: PNIO_CM_UDP_PORT, dstPort: 49152, src: 2, dst: 1 });
    });
  }
  const pcap = join(dir, 'pnio.pcap');
  writePcap(pcap, datagrams);
  const rows = await tshark(pcap);
  t.equal(rows.length, datagrams.length, 'one row per datagram');
  for (const le of [false, true]) {
    const tag = le ? 'LE' : 'BE';
    const [readQ, readA, writeQ, writeA, connQ, connA, relQ, relA, errQ, errA, diagQ, diagA, logQ, logA] = rows.slice(
      le ? 14 : 0,
      le ? 28 : 14,
    );
    t.match(
      readQ,
      {
        'dcerpc.ver': '4',
        'dcerpc.pkt_type': '0',
        'dcerpc.drep.byteorder': le ? '1' : '0',
        'dcerpc.dg_act_id': ACTIVITY,
        'dcerpc.dg_seqnum': String(le ? 100 : 0),
        'dcerpc.opnum': '5',
        'dcerpc.dg_frag_len': '84',
        'dcerpc.dg_frag_num': '0',
        'dcerpc.dg_if_id': 'dea00001-6c97-11d1-8271-00a02442df7d',
      },
      `${tag} read request RPC header`,
    );
    t.match(
      readQ,
      {
        'pn_io.args_max': '4096',
        'pn_io.args_len': '64',
        'pn_io.array_max_count': '4096',
        'pn_io.array_offset': '0',
        'pn_io.array_act_count': '64',
      },
      `${tag} read request NDR`,
    );
    t.match(
      readQ,
      {
        'pn_io.block_type': '0x0009',
        'pn_io.block_length': '60',
        'pn_io.seq_number': '3',
        'pn_io.ar_uuid': '00000000-0000-0000-0000-000000000000',
        'pn_io.api': '0x00000000',
        'pn_io.slot_nr': '0x0000',
        'pn_io.subslot_nr': '0x0001',
        'pn_io.index': '0xaff0',
        'pn_io.record_data_length': '4096',
        'pn_io.target_ar_uuid': '00000000-0000-0000-0000-000000000000',
      },
      `${tag} IODReadReqHeader (Read Implicit)`,
    );
    t.match(
      readA,
      {
        'dcerpc.pkt_type': '2',
        'dcerpc.opnum': '5',
        'pn_io.error_code': '0x00',
        'pn_io.args_len': String(64 + IM0.length),
        'pn_io.block_type': '0x8009,0x0020',
        'pn_io.index': '0xaff0',
        'pn_io.record_data_length': String(IM0.length),
        'pn_io.add_val1': '0',
      },
      `${tag} read answer`,
    );
    t.match(
      readA,
      {
        'pn_io.vendor_id_low': '0x2a',
        'pn_io.order_id': /^ORDER-1 +$/,
        'pn_io.im_serial_number': /^SN-42 +$/,
        'pn_io.im_hardware_revision': '3',
        'pn_io.im_sw_revision_functional_enhancement': '0x04',
        'pn_io.im_revision_counter': '5',
        'pn_io.im_supported': '0x001e',
      },
      `${tag} I&M0 record`,
    );
    t.match(
      writeQ,
      {
        'dcerpc.opnum': '3',
        'pn_io.block_type': '0x0008',
        'pn_io.ar_uuid': AR_UUID,
        'pn_io.slot_nr': '0x0001',
        'pn_io.subslot_nr': '0x0001',
        'pn_io.index': '0x0010',
        'pn_io.record_data_length': '4',
      },
      `${tag} write request`,
    );
    t.match(
      writeA,
      {
        'pn_io.block_type': '0x8008',
        'pn_io.error_code': '0xdf,0xdf',
        'pn_io.error_decode': '0x80,0x80',
        'pn_io.error_code1': '177,177',
        'pn_io.error_code2': '0,0',
      },
      `${tag} write answer: PNIOStatus DF 80 B1 00 in the NDR header and in the block`,
    );
    t.match(
      connQ,
      {
        'dcerpc.opnum': '0',
        'pn_io.block_type': '0x0101',
        'pn_io.ar_uuid': AR_UUID,
        'pn_io.session_key': '1',
        'pn_io.ar_properties.device_access': '0x00000001',
        'pn_io.ar_properties.state': '0x00000001',
        'pn_io.cminitiator_activitytimeoutfactor': '100',
        'pn_io.cminitiator_station_name': 'verigate',
      },
      `${tag} connect: ARBlockReq IOSAR with DeviceAccess`,
    );
    const pdml = await tsharkPdml(pcap, (le ? 14 : 0) + 5);
    t.match(
      pdml,
      /name="pn_io\.artype_req" showname="ARType: \(0x0006\) DeviceAccess AR/,
      `${tag} connect: tshark reads ARType 0x0006 as a device-access AR`,
    );
    t.match(
      connA,
      {
        'pn_io.error_code': '0x00',
        'pn_io.block_type': '0x8101',
        'pn_io.ar_type': '0x0006',
        'pn_io.ar_uuid': AR_UUID,
        'pn_io.cmresponder_macadd': '02:00:00:00:00:99',
      },
      `${tag} ARBlockRes`,
    );
    t.match(
      relQ,
      {
        'dcerpc.opnum': '1',
        'pn_io.block_type': '0x0114',
        'pn_io.ar_uuid': AR_UUID,
        'pn_io.control_command.release': '1',
      },
      `${tag} release request`,
    );
    t.match(relA, { 'pn_io.block_type': '0x8114', 'pn_io.control_command.done': '1' }, `${tag} release answer`);
    t.match(errQ, { 'pn_io.index': '0xaff0' });
    t.match(
      errA,
      {
        'pn_io.error_code': '0xde',
        'pn_io.error_decode': '0x80',
        'pn_io.error_code1': '176',
        'pn_io.error_code2': '10',
        'pn_io.args_len': '0',
      },
      `${tag} read error: DE 80 B0 0A`,
    );
    t.match(diagQ, { 'pn_io.index': '0x800a' });
    t.match(
      diagA,
      {
        'pn_io.block_type': '0x8009,0x0010',
        'pn_io.user_structure_identifier': '0x8000',
        'pn_io.channel_number': /0x8000,0x0003|32768,3/,
        'pn_io.channel_error_type': /0x0001|^1$/,
      },
      `${tag} diagnosis record`,
    );
    t.match(logQ, { 'pn_io.index': '0xf830' });
    t.match(
      logA,
      {
        'pn_io.block_type': '0x8009,0x0019',
        'pn_io.number_of_log_entries': '1',
        'pn_io.entry_detail': /^(7|0x00000007)$/,
        'pn_io.ar_uuid': `00000000-0000-0000-0000-000000000000,${AR_UUID}`,
      },
      `${tag} logbook record`,
    );
  }
});
