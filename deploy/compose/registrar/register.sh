#!/bin/sh
# One-shot registration for the docker-compose lab (service `spire-registrar`, restart: "no").
# Runs after spire-server is healthy and before spire-agent starts:
#   1. bundle show           -> /run/spire/agent-conf/bootstrap.pem  (the agent's trust_bundle_path)
#   2. token generate        -> one-time join token for the node alias spiffe://TD/edge-node (TTL 10 min)
#   3. render agent.conf     -> /run/spire/agent-conf/agent.conf with that token
#   4. entry create (idempotent) for each workload, parented to the node alias, keyed on the caller's uid:
#        spiffe://TD/verigate        unix:uid:10001 (+ DNS SAN "verigate" for hostname-checking clients)
#        spiffe://TD/historian       unix:uid:10002 (the sample client)
#        spiffe://TD/hmi/line1       unix:uid:10003 (the sample client run as another uid)
# The same sequence by hand on a real edge box is in docs/operator-guide.md.
set -eu

TD="${TRUST_DOMAIN:-plant.example}"
SOCK="${SPIRE_SERVER_SOCKET:-/tmp/spire-server/private/api.sock}"
OUT="${AGENT_CONF_DIR:-/run/spire/agent-conf}"
TEMPLATE="${AGENT_CONF_TEMPLATE:-/registrar/agent.conf.tmpl}"
SPIRE_SERVER="${SPIRE_SERVER_BIN:-/usr/local/bin/spire-server}"
NODE="spiffe://$TD/edge-node"
SVID_TTL="${SVID_TTL_SECONDS:-86400}"

srv() { "$SPIRE_SERVER" "$@" -socketPath "$SOCK"; }

i=0
until srv healthcheck >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -ge 60 ]; then echo "registrar: spire-server not healthy after 60 s" >&2; exit 1; fi
  sleep 1
done

srv bundle show > "$OUT/bootstrap.pem.tmp"
mv "$OUT/bootstrap.pem.tmp" "$OUT/bootstrap.pem"

token="$(srv token generate -spiffeID "$NODE" -ttl 600 | awk '/^Token:/ { print $2 }')"
if [ -z "$token" ]; then echo "registrar: no join token from spire-server" >&2; exit 1; fi
sed -e "s/@JOIN_TOKEN@/$token/" -e "s/@TRUST_DOMAIN@/$TD/" "$TEMPLATE" > "$OUT/agent.conf.tmp"
mv "$OUT/agent.conf.tmp" "$OUT/agent.conf"
echo "registrar: agent.conf written for node alias $NODE"

# entry ID SELECTOR [extra entry-create flags...]: create unless an entry with this ID and selector exists.
entry() {
  id="$1"; sel="$2"; shift 2
  if srv entry show -spiffeID "$id" -selector "$sel" | grep -q "Entry ID"; then
    echo "registrar: entry $id ($sel) exists"
    return 0
  fi
  srv entry create -parentID "$NODE" -spiffeID "$id" -selector "$sel" -x509SVIDTTL "$SVID_TTL" "$@"
}

# A compose variant with other workloads names its own entries instead of the three below: ENTRIES_SCRIPT is
# sourced here (entry, srv, TD and NODE in scope). docker-compose.fleet.yml: deploy/compose/fleet/fleet-entries.sh.
if [ -n "${ENTRIES_SCRIPT:-}" ]; then
  . "$ENTRIES_SCRIPT"
  echo "registrar: done"
  exit 0
fi

entry "spiffe://$TD/verigate" unix:uid:10001 -dns verigate
entry "spiffe://$TD/historian" unix:uid:10002
entry "spiffe://$TD/hmi/line1" unix:uid:10003
echo "registrar: done"
