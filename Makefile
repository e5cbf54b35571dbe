# Digital Wallet — developer workflow. `make` (or `make help`) lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

USER_URL ?= http://localhost:3001
TX_URL ?= http://localhost:3002
INFRA := platform/tools/infra/infra.sh
PROMETHEUS := platform/tools/observability/prometheus.sh
API := node platform/tools/infra/api-request.mjs
# The request targets' variables reach their helper through the environment, read with $(value ...):
# neither make nor the shell ever evaluates what they hold, so an email with an apostrophe (or a $,
# a quote, a `;`) is sent exactly as typed, and nothing in a variable can run as code.
export WALLET_USER_URL = $(value USER_URL)
export WALLET_TX_URL = $(value TX_URL)
export WALLET_EMAIL = $(value EMAIL)
export WALLET_AMOUNT = $(value AMOUNT)
export WALLET_KEY = $(value KEY)
export WALLET_FROM = $(value FROM)
export WALLET_TO = $(value TO)
export WALLET_FROM_ID = $(value FROM_ID)
export WALLET_TO_ID = $(value TO_ID)
export WALLET_SINCE = $(value SINCE)
export WALLET_UNTIL = $(value UNTIL)
export WALLET_AS_OF = $(value AS_OF)
export WALLET_LIMIT = $(value LIMIT)
export WALLET_CURSOR = $(value CURSOR)
export WALLET_FORMAT = $(value FORMAT)
export WALLET_HOLD = $(value HOLD)
export WALLET_EXPIRES_IN = $(value EXPIRES_IN)
# USER is also the login name in every shell's environment: only a USER= given on the command line counts.
export WALLET_USER = $(if $(filter command line,$(origin USER)),$(value USER))
# make would otherwise export command-line variables itself, expanding them first (a $(shell ...)
# in one would run): recipes see only the WALLET_ copies above.
unexport EMAIL AMOUNT KEY FROM TO FROM_ID TO_ID SINCE UNTIL USER_URL TX_URL AS_OF LIMIT CURSOR FORMAT
ifeq ($(origin USER),command line)
unexport USER
endif
# npm rewrites node_modules/.package-lock.json on every install, so it stamps "dependencies match the
# lockfile": targets that need node_modules depend on it and a fresh clone installs them first.
DEPS := node_modules/.package-lock.json
# Broker credentials: generated on first use into the git-ignored .credentials.env (README, Security model).
CREDENTIALS := bash platform/tools/infra/credentials.sh
COMPOSE := docker compose --env-file .credentials.env

.PHONY: help setup build up down logs ps observe infra infra-down migrate run test lint replay-outbox replay-money-events \
        create-user add-money transfer hold capture void batch balance history balance-at statement tail-events bench bench-db \
        bench-compare bench-pipeline bench-events bench-holds bench-statements seed-ledger chaos reconcile dist client-types

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

setup: $(DEPS) ## install dependencies (npm ci), fetch the Kafka jars, build
	bash $(INFRA) kafka-jars
	npm run build

$(DEPS): package-lock.json
	npm ci

build: $(DEPS) ## compile the TypeScript workspaces
	npm run build

up: ## start the whole stack: Docker Compose when an engine runs, else natively in the background
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
	  $(CREDENTIALS) ensure && $(COMPOSE) up -d --build --wait && echo "user-service: $$WALLET_USER_URL  transaction-service: $$WALLET_TX_URL  docs: $$WALLET_USER_URL/docs $$WALLET_TX_URL/docs  prometheus: http://127.0.0.1:9090"; \
	else \
	  echo "no Docker engine: starting natively"; \
	  $(MAKE) --no-print-directory infra build && bash platform/tools/infra/run.sh start && \
	  if command -v prometheus >/dev/null 2>&1; then bash $(PROMETHEUS) start; \
	  else echo "no prometheus binary: the stack runs unobserved (apt-get install prometheus, then make observe)"; fi; \
	fi

down: ## stop the whole stack (compose, or the native processes `make up` started)
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then $(COMPOSE) down; \
	else bash $(PROMETHEUS) stop; bash platform/tools/infra/run.sh stop; $(MAKE) --no-print-directory infra-down; fi

observe: ## Prometheus with the alert rules on http://127.0.0.1:9090, scraping the running stack (make up starts it too)
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then $(CREDENTIALS) ensure && $(COMPOSE) up -d --wait prometheus; \
	else bash $(PROMETHEUS) start; fi

logs: ## follow the logs (compose, or the native log files)
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then $(COMPOSE) logs -f; \
	else tail -n 50 -F .run/*.log; fi

ps: ## show what runs
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then $(COMPOSE) ps; \
	else bash platform/tools/infra/run.sh status; bash $(PROMETHEUS) status; fi

infra: $(DEPS) ## make sure PostgreSQL, NATS and Kafka are up (starts only what is not reachable)
	bash $(INFRA) up

infra-down: ## stop only what `make infra` started
	bash $(INFRA) down

migrate: build ## apply the database migrations of both services
	$(CREDENTIALS) exec user-service node user-service/dist/src/entry-points/migrate.js
	$(CREDENTIALS) exec transaction-service node transaction-service/dist/src/entry-points/migrate.js

run: build ## run the three processes natively in the foreground (Ctrl-C stops them)
	bash platform/tools/infra/run.sh foreground

test: $(DEPS) ## lint, type-check, and run every test against the real PostgreSQL, NATS and Kafka
	bash $(INFRA) up
	npm test

lint: $(DEPS) ## lint and type-check only
	npm run lint && npm run build

replay-outbox: build ## republish outbox events: FROM_ID=/TO_ID= event ids, SINCE=/UNTIL= ISO times, or USER=<user id>
	$(CREDENTIALS) exec outbox-relay node outbox-relay/dist/src/entry-points/replay-outbox.js \
	  $${WALLET_FROM_ID:+--from-event-id "$$WALLET_FROM_ID"} $${WALLET_TO_ID:+--to-event-id "$$WALLET_TO_ID"} \
	  $${WALLET_SINCE:+--since "$$WALLET_SINCE"} $${WALLET_UNTIL:+--until "$$WALLET_UNTIL"} $${WALLET_USER:+--user-id "$$WALLET_USER"}

replay-money-events: build ## republish money events from the ledger: USER=<user id>, SINCE=/UNTIL= ISO times, or FROM_ID=/TO_ID= event ids
	$(CREDENTIALS) exec outbox-relay node outbox-relay/dist/src/entry-points/replay-money-events.js \
	  $${WALLET_FROM_ID:+--from-event-id "$$WALLET_FROM_ID"} $${WALLET_TO_ID:+--to-event-id "$$WALLET_TO_ID"} \
	  $${WALLET_SINCE:+--since "$$WALLET_SINCE"} $${WALLET_UNTIL:+--until "$$WALLET_UNTIL"} $${WALLET_USER:+--user-id "$$WALLET_USER"}

create-user: ## POST /users: make create-user EMAIL=a@b.co
	@$(API) create-user

add-money: ## POST /add-money: make add-money USER=<id> AMOUNT=10.00 [KEY=<idempotency key>]
	@$(API) add-money

transfer: ## POST /transfer: make transfer FROM=<id> TO=<id> AMOUNT=1.50 [KEY=<idempotency key>]
	@$(API) transfer

hold: ## POST /holds: make hold FROM=<id> TO=<id> AMOUNT=10.00 [EXPIRES_IN=<seconds>] [KEY=<idempotency key>]
	@$(API) hold

capture: ## POST /holds/{id}/capture: make capture HOLD=<hold id> [AMOUNT=<part; default all>] [KEY=<idempotency key>]
	@$(API) capture

void: ## POST /holds/{id}/void: make void HOLD=<hold id> [KEY=<idempotency key>]
	@$(API) void

batch: ## POST /batch example: make batch FROM=<id> TO=<id> AMOUNT=1.50 [KEY=<key prefix>] (credit, transfer, one invalid op)
	@$(API) batch

balance: ## GET /balance through user-service (NATS): make balance EMAIL=a@b.co [AS_OF=<RFC 3339 instant>]
	@$(API) balance

balance-at: ## a user's balance at a past instant: make balance-at USER=<id> AS_OF=2024-05-01T00:00:00Z
	@$(API) balance-at

statement: ## a user's statement of [FROM, TO): make statement USER=<id> FROM=<RFC 3339> [TO=] [LIMIT=] [CURSOR=] [FORMAT=csv]
	@$(API) statement

history: ## GET a user's transactions: make history USER=<id>
	@$(API) history

tail-events: $(DEPS) ## print money events as they arrive, as money-events-reader (FROM=beginning: from the oldest)
	@$(CREDENTIALS) exec money-events-reader node platform/tools/infra/tail-events.mjs

bench: build ## load + books check against a running stack (see BENCHMARKS.md); BENCH_MODE=batch: POST /batch and client auto-batching vs single requests
	node platform/dist/tools/bench/run-bench.js

bench-db: build ## raw PostgreSQL transfer baseline with pgbench, compared with our transfers/s
	bash platform/tools/infra/bench-db.sh

bench-compare: build ## uniform traffic: make bench vs pgbench, alternating rounds, median ratio (the 0.7 target)
	bash platform/tools/infra/bench-compare.sh

bench-pipeline: build ## user-created pipeline, GET /balance rates and a balance-subject flood on a private stack (see BENCHMARKS.md)
	node platform/dist/tools/bench/run-bench-pipeline.js

bench-events: build ## money events on a private stack: event lag at 50 and 500 clients, relay drain of a 200,000-event backlog (see BENCHMARKS.md)
	node platform/dist/tools/bench/run-bench-events.js

bench-holds: build ## holds on a private stack: hold+capture pairs/s vs transfers/s (same clients), expiry release lag of 10,000 holds (BENCHMARKS.md)
	node platform/dist/tools/bench/run-bench-holds.js

seed-ledger: build ## seed a bench database with 1,000,000 ledger rows over 10,000 users (set-based SQL; see BENCHMARKS.md)
	node platform/dist/tools/bench/seed-ledger.js

bench-statements: build ## as_of and statement-page latency at 50 readers during a transfer load, CSV of 200,000 entries (BENCHMARKS.md)
	node platform/dist/tools/bench/run-bench-statements.js

chaos: build ## fault drills during a bench run (kills, PostgreSQL restart and crashes, outages), then the books check
	node platform/dist/tools/bench/run-chaos.js

client-types: build ## regenerate client/src/generated/api-types.ts from the services' OpenAPI documents
	node platform/dist/tools/client-types/generate-client-types.js

reconcile: build ## recompute every balance from the ledger and report mismatches
	$(CREDENTIALS) exec transaction-service node transaction-service/dist/src/entry-points/reconcile.js

dist: ## write the source as a zip (git archive: no node_modules, no build output)
	git archive --format=zip --prefix=digital-wallet/ -o digital-wallet.zip HEAD && echo "wrote digital-wallet.zip"
