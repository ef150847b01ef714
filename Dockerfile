# A Shoal worker node: `shoal worker` with your processor module copied in.
#
#   docker build --build-arg PROCESSOR_DIR=examples/key-counts -t shoal-worker .
#   docker run --rm -e SHOAL_APPLICATION=billing -e SHOAL_STREAM=orders -e AWS_REGION=eu-west-1 \
#     -e SHOAL_NATS_URL=nats://nats:4222 -e SHOAL_REDIS_URL=redis://redis:6379 -p 9090:9090 shoal-worker
#
# PROCESSOR_DIR is a directory of this build context holding the processor's built module
# (dist/processor.js) and its package.json; its dependencies are installed with the workspace.

FROM node:20-slim AS build
WORKDIR /src
RUN npm install --global pnpm@12.21.0
COPY . .
RUN pnpm install --frozen-lockfile \
 && pnpm exec tsc -b \
 && pnpm prune --prod

FROM node:20-slim
ARG PROCESSOR_DIR=examples/key-counts
# tini is PID 1: it forwards SIGTERM to the worker (which drains and hands off its leases)
# and reaps zombies.
RUN apt-get update \
 && apt-get install --yes --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build --chown=node:node /src /app
RUN ln -s "/app/${PROCESSOR_DIR}" /app/processor
USER node
ENV NODE_ENV=production \
    SHOAL_PROCESSOR=/app/processor/dist/processor.js \
    SHOAL_METRICS_PORT=9090
EXPOSE 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9090/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/packages/cli/dist/main.js", "worker"]
