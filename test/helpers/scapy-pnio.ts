/**
 * Drives Scapy (PyPI, in .venv: scapy.layers.dcerpc.DceRpc4 and scapy.contrib.pnio_rpc) as an independent
 * PNIO-CM encoder and decoder: jobs in as JSON on stdin, results out as JSON. `build` jobs return the hex
 * of a request Scapy builds itself; `parse` jobs return the fields Scapy reads from our bytes.
 */
import { execFile } from 'node:child_process';
import { requireTool } from './tools.js';

const DRIVER = String.raw`
import json, sys
from uuid import UUID
from scapy.layers.dcerpc import DceRpc4
from scapy.packet import Raw
from scapy.contrib.pnio_rpc import (PNIOServiceReqPDU, PNIOServiceResPDU, IODReadReq, IODWriteReq, ARBlockReq)

def rpc(c, opnum):
    return DceRpc4(ptype=0, endian=1 if c["le"] else 0, object=UUID(c["object"]), if_id=UUID(c["interface"]),
                   act_id=UUID(c["activity"]), seqnum=c["seq"], opnum=opnum)

def build(job):
    c, r = job["call"], job.get("record")
    if job["kind"] == "read-implicit":
        # Scapy pitfall: TargetARUUID lives inside RWPadding; MaximumCount must be set by hand.
        blk = IODReadReq(seqNum=r["seq"], ARUUID=UUID(int=0), API=r["api"], slotNumber=r["slot"],
                         subslotNumber=r["subslot"], index=r["index"], recordDataLength=r["length"],
                         RWPadding=UUID(r["target"]).bytes + b"\0" * 8)
        opnum = 5
    elif job["kind"] == "write":
        blk = IODWriteReq(seqNum=r["seq"], ARUUID=UUID(r["ar"]), API=r["api"], slotNumber=r["slot"],
                          subslotNumber=r["subslot"], index=r["index"], RWPadding=b"\0" * 24) / Raw(bytes.fromhex(r["data"]))
        opnum = 3
    else:
        a = job["ar"]
        blk = ARBlockReq(ARType=a["arType"], ARUUID=UUID(a["arUuid"]), SessionKey=a["sessionKey"],
                         CMInitiatorMacAdd=a["initiatorMac"], CMInitiatorObjectUUID=UUID(a["initiatorObjectUuid"]),
                         ARProperties_State=1, ARProperties_ParametrizationServer=1, ARProperties_DeviceAccess=1,
                         CMInitiatorActivityTimeoutFactor=a["activityTimeoutFactor"],
                         CMInitiatorUDPRTPort=a["initiatorUdpRtPort"], CMInitiatorStationName=a["stationName"].encode())
        opnum = 0
    pdu = PNIOServiceReqPDU(args_max=job["argsMaximum"], max_count=job["argsMaximum"], blocks=[blk])
    return bytes(rpc(c, opnum) / pdu).hex()

def plain(v):
    if isinstance(v, UUID): return str(v)
    if isinstance(v, (bytes, bytearray)): return v.hex()
    if isinstance(v, (int, str)) or v is None: return v
    try: return int(v)
    except Exception: return str(v)

def fields(p):
    d = {"class": p.__class__.__name__}
    for f in p.fields_desc:
        d[f.name] = plain(p.getfieldval(f.name))
    if p.payload and isinstance(p.payload, Raw): d["payload"] = bytes(p.payload).hex()
    return d

def parse(job):
    p = DceRpc4(bytes.fromhex(job["hex"]))
    out = {k: plain(p.getfieldval(k)) for k in ("rpc_vers", "ptype", "flags1", "endian", "object", "if_id", "act_id",
                                                  "seqnum", "opnum", "len", "fragnum", "if_vers")}
    pl = p.payload
    out["pdu"] = pl.__class__.__name__
    if isinstance(pl, (PNIOServiceReqPDU, PNIOServiceResPDU)):
        for k in ("args_max", "status", "args_length", "max_count", "offset", "actual_count"):
            if k in pl.fields: out[k] = plain(pl.getfieldval(k))
        out["blocks"] = [fields(b) for b in pl.blocks]
    return out

jobs = json.load(sys.stdin)
print(json.dumps([build(j) if j["do"] == "build" else parse(j) for j in jobs]))
`;

export type ScapyJob =
  { do: 'build'; kind: 'read-implicit' | 'write' | 'connect'; [k: string]: unknown } | { do: 'parse'; hex: string };
export type ScapyFields = Record<string, unknown> & { blocks?: Record<string, unknown>[] };

export function runScapy(jobs: ScapyJob[]): Promise<(string | ScapyFields)[]> {
  const py = requireTool('scapy');
  return new Promise((resolve, reject) => {
    const child = execFile(
      py,
      ['-c', DRIVER],
      { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`scapy driver failed: ${err.message}\n${stderr}`));
        try {
          resolve(JSON.parse(stdout) as (string | ScapyFields)[]);
        } catch (e) {
          reject(new Error(`scapy driver output: ${(e as Error).message}: ${stdout.slice(0, 500)}`));
        }
      },
    );
    child.stdin?.end(JSON.stringify(jobs));
  });
}
