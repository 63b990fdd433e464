# verigate gateway image (also runs the PLC simulators of the compose lab).
#   docker build -t verigate:0.1.0 .
#   docker run --rm verigate:0.1.0 node dist/gateway/cli/verigate.js policy check dist/gateway/config/samples/policy.yaml
# Two stages: the build stage has the dev dependencies (TypeScript); the runtime stage has dist/ and the
# production dependencies only, and runs as the unprivileged user `verigate` (uid/gid 10001).

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the `prepare` script would run the build before the sources are here; no runtime
# dependency needs an install script (modbus-serial's native serial bindings are for tests only).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/copy-assets.mjs scripts/copy-assets.mjs
COPY protocols protocols
COPY gateway gateway
COPY simulators simulators
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    MALLOC_MMAP_THRESHOLD_=65536 \
    SPIFFE_ENDPOINT_SOCKET=unix:///run/spire/agent/public/api.sock
# Fixed ids so registration entries (unix:uid:10001) and volume ownership are predictable.
RUN groupadd --system --gid 10001 verigate \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/verigate --no-create-home --shell /usr/sbin/nologin verigate \
 && mkdir -p /etc/verigate /var/lib/verigate/state /var/lib/verigate/audit /run/spire/agent/public \
 && chown -R verigate:verigate /var/lib/verigate
WORKDIR /opt/verigate
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
USER 10001:10001
# 802 Modbus/TCP Security, 8443 gRPC API, 9802 metrics / healthz / readyz (as configured in gateway.yaml).
EXPOSE 802 8443 9802
CMD ["node", "--max-semi-space-size=8", "dist/gateway/cli/verigate.js", "run", "--config", "/etc/verigate/gateway.yaml"]
