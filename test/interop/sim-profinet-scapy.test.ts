/**
 * Scapy (PyPI, in .venv: scapy.layers.dcerpc DceRpc4 + scapy.contrib.pnio_rpc) as an independent PNIO-CM
 * client of the PROFINET simulator: it builds a Read Implicit for I&M0 (and one for an unknown index) in
 * both byte orders, sends it over UDP to 127.0.0.1, and decodes the simulator's answer field by field.
 * A missing Scapy fails the test (never a skip).
 */
import { execFile } from 'node:child_process';
import t from 'tap';
import { startProfinetSimulator } from '../../simulators/profinet/profinet-simulator.js';
import { requireTool } from '../helpers/tools.js';

const DRIVER = String.raw`
import json, sys, socket
from uuid import UUID
from scapy.layers.dcerpc import DceRpc4
from scapy.contrib.pnio_rpc import PNIOServiceReqPDU, PNIOServiceResPDU, IODReadReq

def plain(v):
    if isinstance(v, UUID): return str(v)
    if isinstance(v, (bytes, bytearray)): return v.decode("latin1")
    if isinstance(v, (int, str)) or v is None: return v
    try: return int(v)
    except Exception: return str(v)

port, obj = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
out = []
for i, (le, index) in enumerate([(False, 0xAFF0), (True, 0xAFF0), (True, 0x4444)]):
    blk = IODReadReq(seqNum=1, ARUUID=UUID(int=0), API=0, slotNumber=0, subslotNumber=1, index=index,
                     recordDataLength=4096, RWPadding=b"\0" * 24)
    pkt = DceRpc4(ptype=0, endian=1 if le else 0, object=UUID(obj), if_id=UUID("dea00001-6c97-11d1-8271-00a02442df7d"),
                  act_id=UUID("12345678-1234-1234-1234-123456789abc"), seqnum=20 + i, opnum=5) / \
          PNIOServiceReqPDU(args_max=16384, max_count=16384, blocks=[blk])
    s.sendto(bytes(pkt), ("127.0.0.1", port))
    data, _ = s.recvfrom(65535)
    p = DceRpc4(data)
    r = {k: plain(p.getfieldval(k)) for k in ("ptype", "endian", "act_id", "seqnum", "opnum", "len", "fragnum")}
    pl = p.payload
    r["pdu"] = pl.__class__.__name__
    r["status"] = plain(pl.getfieldval("status"))
    blocks = []
    for b in pl.blocks:
        layer = b
        while layer is not None and layer.__class__.__name__ not in ("NoPayload", "Raw"):
            blocks.append(dict({"class": layer.__class__.__name__}, **{f.name: plain(layer.getfieldval(f.name)) for f in layer.fields_desc}))
            layer = layer.payload if layer.payload else None
    r["blocks"] = blocks
    out.append(r)
print(json.dumps(out))
`;

type Answer = {
  ptype: number;
  endian: number;
  act_id: string;
  seqnum: number;
  opnum: number;
  pdu: string;
  status: number;
  blocks: Record<string, unknown>[];
};

t.test(
  'Scapy reads I&M0 from the simulator over UDP (both byte orders in, big-endian out) and decodes the answer',
  async (t) => {
    const py = requireTool('scapy');
    const sim = await startProfinetSimulator({ scenario: 'simulators/scenarios/remote-io.yaml', sweepMs: 0 });
    t.teardown(() => sim.close());
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(py, ['-c', DRIVER, String(sim.port), sim.objectUuid], { timeout: 60_000 }, (err, out, errOut) =>
        err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out),
      ),
    );
    const answers = JSON.parse(stdout) as Answer[];
    t.equal(answers.length, 3);
    for (const [i, a] of answers.slice(0, 2).entries()) {
      t.match(
        a,
        {
          ptype: 2,
          endian: 0,
          act_id: '12345678-1234-1234-1234-123456789abc',
          seqnum: 20 + i,
          opnum: 5,
          pdu: 'PNIOServiceResPDU',
          status: 0,
        },
        `answer ${i}: response, big-endian, same call`,
      );
      t.match(a.blocks[0], {
        class: 'IODReadRes',
        block_type: 0x8009,
        seqNum: 1,
        API: 0,
        slotNumber: 0,
        subslotNumber: 1,
        index: 0xaff0,
        recordDataLength: 60,
      });
      t.match(a.blocks[1], {
        class: 'IM0Block',
        block_type: 0x0020,
        VendorIDHigh: 0x0f,
        VendorIDLow: 0xee,
        OrderID: 'VG-RIO-ET16         ',
        IMSerialNumber: 'S-RIO1-000123   ',
        IMHardwareRevision: 3,
        IMSWRevisionPrefix: 'V',
        IMSWRevisionFunctionalEnhancement: 2,
        IMSWRevisionBugFix: 4,
        IMSWRevisionInternalChange: 1,
        IMSupported: 0x0e,
      });
    }
    t.equal(answers[2]?.status, 0xde80b00a, 'unknown index: DE 80 B0 0A as Scapy reads the PNIOStatus');
    t.same(answers[2]?.blocks, [], 'no blocks with the error');
    t.same(sim.counters().reads, { '0/0/1/0xaff0': 2, '0/0/1/0x4444': 1 });
  },
);
