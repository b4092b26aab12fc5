# DianaBot's image (apps/bot): `docker build -t diana-bot .` at the repository root, or
# `docker compose --profile bot up -d --wait` (the `bot` service). Stage 1 installs the workspace, builds the bot
# and its packages, and `pnpm deploy --prod`s it into /out (dist/ + production node_modules, the
# @diana/* packages with their migrations, Lua and story files); stage 2 is Node and that folder,
# run as the image's unprivileged `node` user. The same steps CI runs (scripts/bot-deploy-start.mjs).
# Node is 24, the active LTS (Node 20's support ended on 2026-04-30), at the version CI's Node 24
# pass installs from the npm registry and starts the deployed bot on; pnpm the one pinned in
# package.json. On Node 24 the bot spends less CPU per update than on Node 20 (a median 7-26% less,
# pair by pair) and sustains more updates/s on the same machine (apps/bot/README.md, "Benchmark").

FROM node:24.21.0-bookworm-slim AS build
RUN npm install -g pnpm@10.34.9 --no-audit --no-fund --loglevel=error
WORKDIR /repo
# the dependencies first, from the lockfile alone: this layer is reused until the lockfile changes
COPY pnpm-lock.yaml pnpm-workspace.yaml package.json ./
RUN pnpm fetch
COPY . .
# deploy:bot builds @diana/bot and the packages it uses (turbo), then deploys them
RUN pnpm install --frozen-lockfile --offline \
  && pnpm run deploy:bot /out

FROM node:24.21.0-bookworm-slim
ENV NODE_ENV=production \
  DIANA_BOT_DATA_DIR=/data
WORKDIR /app
# the code belongs to root (the bot cannot change it); only the data directory is the bot's
COPY --from=build /out ./
RUN mkdir -m 0700 /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
# /readyz answers loopback clients, as this check is: 200 once PostgreSQL and Redis answer (on
# ops_port when one is set, else on http_port)
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "const e = process.env; fetch('http://127.0.0.1:' + (e.DIANA_BOT_OPS_PORT || e.DIANA_BOT_HTTP_PORT || 8080) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM (docker stop) reaches node itself: the bot drains updates and exits 0.
# --max-semi-space-size=16: Node 20's young generation. Node 24's own grows to 64 MB a semi-space
# and held 103 MB resident in the bot's benchmark; with 16 it held 32 MB, the process's peak RSS
# fell by about 100 MB and the CPU per update did not rise (apps/bot/README.md, "Node 24 in the
# image"); in the event bus's latency benchmark, scavenges paused 1.5-4 ms instead of 5-13.
# scripts/bot-deploy-start.mjs starts the deployed bot with the flags of this line.
CMD ["node", "--max-semi-space-size=16", "dist/main.js"]
