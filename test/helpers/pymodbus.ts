/**
 * Runs pymodbus (the PyPI client in .venv) against a Modbus/TCP endpoint: a list of operations in, their
 * results out as JSON. Third-party bytes on the wire, so it proves interop rather than self-consistency.
 */
import { execFile } from 'node:child_process';
import { requireTool } from './tools.js';

export type PyOp =
  | {
      op: 'read_holding' | 'read_input' | 'read_coils' | 'read_discrete';
      address: number;
      count?: number;
      unit?: number;
    }
  | { op: 'write_register'; address: number; value: number; unit?: number }
  | { op: 'write_registers'; address: number; values: number[]; unit?: number }
  | { op: 'write_coil'; address: number; value: boolean; unit?: number }
  | { op: 'device_id'; unit?: number }
  | { op: 'sleep'; seconds: number };

/** Per op: `{values}` / `{ok:true}` / `{objects}` / `{exception: code}` / `{error: text}`. */
export interface PyResult {
  values?: number[];
  ok?: boolean;
  exception?: number;
  objects?: Record<string, string>;
  error?: string;
}

// Works across pymodbus 3.7–3.x: the unit keyword was `slave` before it became `device_id`.
const DRIVER = String.raw`
import inspect, json, ssl, sys, time
from pymodbus.client import ModbusTcpClient, ModbusTlsClient
host, port, ops = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
tls = json.loads(sys.argv[4]) if len(sys.argv) > 4 else None
if tls:
    # Modbus/TCP Security [MB-TCP-SEC]: mutual TLS; the gateway is checked against the SPIFFE bundle, not a hostname.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(tls["ca"])
    ctx.load_cert_chain(tls["cert"], tls["key"])
    c = ModbusTlsClient(host, port=port, sslctx=ctx, timeout=2, retries=0)
else:
    c = ModbusTcpClient(host, port=port, timeout=2, retries=0)
if not c.connect():
    print(json.dumps({"connectError": True})); sys.exit(3)
kw = "device_id" if "device_id" in inspect.signature(c.read_holding_registers).parameters else "slave"
out = []
for o in ops:
    u = {kw: o.get("unit", 255)}
    try:
        if o["op"] == "sleep":
            time.sleep(o["seconds"]); out.append({"ok": True}); continue
        if o["op"] == "read_holding": r = c.read_holding_registers(o["address"], count=o.get("count", 1), **u)
        elif o["op"] == "read_input": r = c.read_input_registers(o["address"], count=o.get("count", 1), **u)
        elif o["op"] == "read_coils": r = c.read_coils(o["address"], count=o.get("count", 1), **u)
        elif o["op"] == "read_discrete": r = c.read_discrete_inputs(o["address"], count=o.get("count", 1), **u)
        elif o["op"] == "write_register": r = c.write_register(o["address"], o["value"], **u)
        elif o["op"] == "write_registers": r = c.write_registers(o["address"], o["values"], **u)
        elif o["op"] == "write_coil": r = c.write_coil(o["address"], o["value"], **u)
        elif o["op"] == "device_id": r = c.read_device_information(read_code=1, object_id=0, **u)
        else: out.append({"error": "unknown op"}); continue
        if r.isError():
            out.append({"exception": getattr(r, "exception_code", -1)})
        elif o["op"] == "device_id":
            out.append({"objects": {str(k): v.decode("latin1") for k, v in r.information.items()}})
        elif o["op"].startswith("read_"):
            vals = r.registers if o["op"] in ("read_holding", "read_input") else [int(b) for b in r.bits[: o.get("count", 1)]]
            out.append({"values": list(vals)})
        else:
            out.append({"ok": True})
    except Exception as e:
        out.append({"error": type(e).__name__ + ": " + str(e)})
c.close()
print(json.dumps(out))
`;

/** Client credentials for pymodbus's stock ModbusTlsClient (PEM file paths). */
export interface PyTls {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

export async function runPymodbus(
  host: string,
  port: number,
  ops: PyOp[],
  timeoutMs = 20_000,
  tls?: PyTls,
): Promise<PyResult[]> {
  const python = requireTool('python');
  const args = ['-c', DRIVER, host, String(port), JSON.stringify(ops), ...(tls ? [JSON.stringify(tls)] : [])];
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(python, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, out, errOut) => {
      if (err) reject(new Error(`pymodbus driver failed: ${err.message}\n${errOut}\n${out}`));
      else resolve(out);
    });
  });
  const lastLine = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(lastLine) as PyResult[];
}
