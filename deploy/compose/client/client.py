"""Sample verigate client for the docker-compose lab.

Every round it fetches its current X.509-SVID from the SPIRE agent (so rotation needs nothing), connects to
the gateway over Modbus/TCP Security with pymodbus's stock TLS client, checks that the server is the
gateway's SPIFFE ID, reads the turbine (unit 1) and the tank (unit 2), tries one setpoint write, and prints
one JSON line. As the historian (uid 10002) the write is refused with exception 0x01; as hmi/line1
(uid 10003) it is allowed.

Environment: GATEWAY_HOST (verigate), GATEWAY_PORT (802), GATEWAY_ID (spiffe://plant.example/verigate),
SPIFFE_ENDPOINT_SOCKET, INTERVAL seconds (5), ROUNDS (0 = forever).
"""
import inspect
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time

from pymodbus.client import ModbusTlsClient

HOST = os.environ.get("GATEWAY_HOST", "verigate")
PORT = int(os.environ.get("GATEWAY_PORT", "802"))
GATEWAY_ID = os.environ.get("GATEWAY_ID", "spiffe://plant.example/verigate")
SOCKET = os.environ.get("SPIFFE_ENDPOINT_SOCKET", "unix:///run/spire/agent/public/api.sock")
INTERVAL = float(os.environ.get("INTERVAL", "5"))
ROUNDS = int(os.environ.get("ROUNDS", "0"))


def fetch_svid(out_dir: str) -> None:
    """svid.0.pem (chain), svid.0.key, bundle.0.pem from the Workload API, as this process's uid."""
    path = SOCKET.removeprefix("unix://")
    subprocess.run(
        ["spire-agent", "api", "fetch", "x509", "-socketPath", path, "-write", out_dir, "-timeout", "30s"],
        check=True, stdout=subprocess.DEVNULL,
    )


def tls_context(d: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    # SPIFFE: the server is authorized by its SPIFFE ID (checked below), not by a hostname. The gateway's
    # entry also carries DNS SAN "verigate" for clients that can only check hostnames.
    ctx.check_hostname = False
    ctx.load_verify_locations(os.path.join(d, "bundle.0.pem"))
    ctx.load_cert_chain(os.path.join(d, "svid.0.pem"), os.path.join(d, "svid.0.key"))
    return ctx


def server_id(client: ModbusTlsClient) -> str | None:
    sock = getattr(client, "socket", None)
    cert = sock.getpeercert() if sock is not None else None
    for kind, value in (cert or {}).get("subjectAltName", ()):
        if kind == "URI":
            return value
    return None


def one_round(d: str) -> dict:
    fetch_svid(d)
    c = ModbusTlsClient(HOST, port=PORT, sslctx=tls_context(d), timeout=3, retries=0)
    if not c.connect():
        return {"connected": False}
    try:
        peer = server_id(c)
        if peer != GATEWAY_ID:
            return {"connected": True, "refused": f"server is {peer}, expected {GATEWAY_ID}"}
        kw = "device_id" if "device_id" in inspect.signature(c.read_input_registers).parameters else "slave"
        out = {"connected": True, "gateway": peer}
        r = c.read_input_registers(0, count=3, **{kw: 1})
        out["turbine"] = r.registers if not r.isError() else {"exception": getattr(r, "exception_code", None)}
        r = c.read_input_registers(0, count=1, **{kw: 2})
        out["tankLevel"] = r.registers if not r.isError() else {"exception": getattr(r, "exception_code", None)}
        r = c.write_register(100, 1500, **{kw: 1})
        out["setpointWrite"] = "ok" if not r.isError() else {"exception": getattr(r, "exception_code", None)}
        return out
    finally:
        c.close()


def main() -> int:
    n = 0
    with tempfile.TemporaryDirectory() as d:
        while ROUNDS == 0 or n < ROUNDS:
            n += 1
            try:
                result = one_round(d)
            except Exception as e:  # a lab client keeps going and says why
                result = {"error": f"{type(e).__name__}: {e}"}
            print(json.dumps({"round": n, **result}), flush=True)
            time.sleep(INTERVAL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
