# Registration entries of docker-compose.fleet.yml, sourced by deploy/compose/registrar/register.sh
# (ENTRIES_SCRIPT) instead of the plain lab's three: `entry`, TD and NODE come from there.
# IDs are gateway/fleet/fleet-topology.ts `fleetIds` (test/integration/compose-fleet-config.test.ts checks them).
#
# The unix attestor tells workloads apart by the uid and gid compose runs them as:
#   - nats-server needs its SVID as files: a one-shot `svid-<server>` service (spire-agent image) runs
#     `spire-agent api fetch x509 -write /etc/nats/tls` as uid 0 with the server's own gid, into the volume the
#     server mounts read-only. DNS SANs: the names the other servers dial (routes hub-N:6222, leaf remotes
#     hub-N:7422) — nats-server checks them like any TLS client; the gateway and control check SPIFFE IDs.
#   - the gateway and `verigate control` run the verigate image (uid 10001) and read the Workload API themselves;
#     control runs with gid 10004, so each gets exactly one SVID.

# the hub cluster (JetStream domain hub)
entry "spiffe://$TD/fleet/hub/1" unix:gid:10011 -selector unix:uid:0 -dns hub-1
entry "spiffe://$TD/fleet/hub/2" unix:gid:10012 -selector unix:uid:0 -dns hub-2
entry "spiffe://$TD/fleet/hub/3" unix:gid:10013 -selector unix:uid:0 -dns hub-3
# the centre
entry "spiffe://$TD/fleet/control" unix:gid:10004 -selector unix:uid:10001
# edge box of site-a: its leaf node and its gateway gw-1 (the leaf is reached on loopback only)
entry "spiffe://$TD/fleet/site/site-a/leaf" unix:gid:10021 -selector unix:uid:0 -dns leaf-site-a
entry "spiffe://$TD/fleet/site/site-a/gateway/gw-1" unix:gid:10001 -selector unix:uid:10001 -dns gateway-site-a
