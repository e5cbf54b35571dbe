# syntax=docker/dockerfile:1
# The one image recipe of every service: the services are built and packed alike, so one file says
# how. Build from the repository root (the npm workspace), naming the workspace and its port:
#   docker build --build-arg SERVICE=user-service --build-arg PORT=3001 -t wallet/user-service .
# docker-compose.yml passes both for each service.

# ---- build: every dependency (TypeScript included), then compile the service and the runtime library ----
FROM node:20.19.5-bookworm-slim AS build
ARG SERVICE
RUN test -n "$SERVICE" || { echo 'name the workspace: --build-arg SERVICE=<user-service|transaction-service|outbox-relay>' >&2; exit 1; }
WORKDIR /app
# Manifests first: the `npm ci` layer is reused until a dependency changes. All workspace
# manifests are copied because the lockfile describes the whole workspace.
COPY package.json package-lock.json tsconfig.base.json ./
COPY platform/package.json platform/
COPY client/package.json client/
COPY user-service/package.json user-service/
COPY transaction-service/package.json transaction-service/
COPY outbox-relay/package.json outbox-relay/
RUN npm ci --no-audit --no-fund
# Only runtime sources: the platform's runtime library and this service's src. The service's
# tsconfig references nothing else, so test kit, tools and tests never reach the image
# (platform/tools/checks/runtime-boundary.test.ts checks this file and the compile units).
COPY platform/runtime/ platform/runtime/
COPY ${SERVICE}/tsconfig.json ${SERVICE}/
COPY ${SERVICE}/src/ ${SERVICE}/src/
RUN npx tsc -b ${SERVICE}

# ---- runtime: production dependencies of this one workspace, compiled code, no compiler ----
FROM node:20.19.5-bookworm-slim AS runtime
ARG SERVICE
ARG PORT
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY platform/package.json platform/
COPY client/package.json client/
COPY user-service/package.json user-service/
COPY transaction-service/package.json transaction-service/
COPY outbox-relay/package.json outbox-relay/
RUN npm ci --omit=dev --workspace ${SERVICE} --include-workspace-root=false --no-audit --no-fund \
  && npm cache clean --force
COPY --from=build /app/platform/dist/runtime platform/dist/runtime
COPY --from=build /app/${SERVICE}/dist/src ${SERVICE}/dist/src
# Nothing in /app is writable by the process: it logs to stdout and keeps state in PostgreSQL.
USER node
EXPOSE ${PORT}
# The exec form expands no variables: the working directory names the service instead (no service
# reads files relative to it; modules resolve from /app/node_modules wherever it is).
WORKDIR /app/${SERVICE}
CMD ["node", "dist/src/entry-points/main.js"]
