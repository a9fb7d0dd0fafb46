# syntax=docker/dockerfile:1
# One image for every process type of the Procfile: `web` by default, any other
# by its command, e.g. `docker run senderz node dist/bin/worker.js dispatch`.

FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The package's own `prepare` step (tsc) needs the sources: it runs below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM node:20-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000
WORKDIR /app
COPY --from=build --chown=root:root /app/package.json /app/package-lock.json ./
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
# The code is owned by root and read-only to the process, which runs as `node` (uid 1000).
USER node
EXPOSE 3000
CMD ["node", "dist/bin/web.js"]
