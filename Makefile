# tollgate — see README.md. Every target works on a fresh machine with Go.
GO      ?= go
BIN     := bin/tollgate
PKGS    := ./...
export CGO_ENABLED := 0

.PHONY: all build run cluster test fuzz test-short vet fmt bench bench-limits image chaos chaos-compose clean

all: build

## build: the static tollgate binary in bin/
build:
	$(GO) build -trimpath -ldflags "-s -w" -o $(BIN) ./cmd/tollgate

## run: one local node with the default config and a demo upstream.
## Then: curl -i http://127.0.0.1:8080/echo/hello
run: build
	@mkdir -p data/run
	@echo "tollgate: data plane http://127.0.0.1:8080  admin http://127.0.0.1:8081/v1/cluster"
	@echo "try:      curl -i http://127.0.0.1:8080/echo/hello"
	@$(BIN) echo --addr 127.0.0.1:9001 & pid=$$!; trap "kill $$pid 2>/dev/null" EXIT INT TERM; \
	$(BIN) agent --node-id node1 --data-dir data/run --http-addr 127.0.0.1:8080 --admin-addr 127.0.0.1:8081 \
	  --raft-addr 127.0.0.1:7000 --gossip-addr 127.0.0.1:7946 --seed-config cmd/tollgate/default.yaml --log-format text

## cluster: three local nodes joined together, plus the demo upstream.
## Data planes on :8080 :8180 :8280, admin APIs on :8081 :8181 :8281.
cluster: build
	@mkdir -p data/n1 data/n2 data/n3
	@echo "tollgate cluster: data planes :8080 :8180 :8280  admin :8081 :8181 :8281"
	@$(BIN) echo --addr 127.0.0.1:9001 & pids=$$!; trap 'kill $$pids 2>/dev/null' EXIT INT TERM; \
	for i in 1 2 3; do \
	  p=$$(( (i-1)*100 )); \
	  $(BIN) agent --node-id node$$i --data-dir data/n$$i --http-addr 127.0.0.1:$$((8080+p)) --admin-addr 127.0.0.1:$$((8081+p)) \
	    --raft-addr 127.0.0.1:$$((7000+p)) --gossip-addr 127.0.0.1:$$((7946+p)) \
	    --join $$(for j in 1 2 3; do [ $$j -ne $$i ] && printf '127.0.0.1:%d,' $$((7946+(j-1)*100)); done) \
	    --seed-config cmd/tollgate/default.yaml --log-format text & pids="$$pids $$!"; \
	done; wait

## test: every test, with the race detector; the data plane's tests run
## again with the goroutine engine serving every test gateway, and with
## the epoll engine sending with sendto instead of io_uring (the default
## is epoll with io_uring where the kernel has it).
test:
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 10m $(PKGS)
	TOLLGATE_TEST_ENGINE=goroutine CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 10m ./dataplane
	TOLLGATE_TEST_ENGINE=epoll-sendto CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 10m ./dataplane

## fuzz: every fuzz target for FUZZTIME (default 30s) each: the config
## decoder and validator, the route matcher, the HTTP/1.1 server (raw bytes
## in, well-formed responses out), the upstream response parser and the
## server's fast request parser and the loops' parser of requests with a
## Content-Length body (all against net/http's), the response relay and the loops' upstream request head
## (both against the general path), the limiter's gossip message
## decoder, the JWT path and the JSON field shaper (upstream bodies). Failing inputs land in testdata/fuzz as
## regression cases that plain `go test` then runs.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run='^$$' -fuzz='^FuzzDecode$$' -fuzztime=$(FUZZTIME) ./store
	$(GO) test -run='^$$' -fuzz='^FuzzRouteMatch$$' -fuzztime=$(FUZZTIME) ./dataplane
	$(GO) test -run='^$$' -fuzz='^FuzzH1Server$$' -fuzztime=$(FUZZTIME) ./dataplane
	$(GO) test -run='^$$' -fuzz='^FuzzResponseHead$$' -fuzztime=$(FUZZTIME) ./dataplane
	$(GO) test -run='^$$' -fuzz='^FuzzRequestHead$$' -fuzztime=$(FUZZTIME) ./dataplane
	$(GO) test -run='^$$' -fuzz='^FuzzLoopRequestHead$$' -fuzztime=$(FUZZTIME) ./dataplane
	$(GO) test -run='^$$' -fuzz='^FuzzRelayHead$$' -fuzztime=$(FUZZTIME) ./dataplane
	$(GO) test -run='^$$' -fuzz='^FuzzOutboundHead$$' -fuzztime=$(FUZZTIME) ./dataplane
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeMessage$$' -fuzztime=$(FUZZTIME) ./limiter
	$(GO) test -run='^$$' -fuzz='^FuzzJWT$$' -fuzztime=$(FUZZTIME) ./internal/auth
	$(GO) test -run='^$$' -fuzz='^FuzzRuleApply$$' -fuzztime=$(FUZZTIME) ./internal/shape

## test-short: quick unit tests only.
test-short:
	$(GO) test -short -count=1 $(PKGS)

vet:
	$(GO) vet $(PKGS)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }

fmt:
	gofmt -w $$(git ls-files '*.go')

## bench: direct upstream vs nginx vs tollgate, closed loop (wrk) and open loop
## (vegeta), in one run; installs nginx and wrk from Debian when missing and root.
bench: build
	@command -v wrk >/dev/null && command -v nginx >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && (apt-get install -y -qq nginx wrk >/dev/null 2>&1 || \
	    (apt-get update -qq && apt-get install -y -qq nginx wrk >/dev/null)); } || true
	$(GO) run ./cmd/bench -binary $(BIN) $(BENCHFLAGS)

## bench-limits: rate-limit accuracy on three real nodes (60/30/10 % of 3x the
## limit; 1 s and 60 s windows; steady, a node killed, a node isolated).
bench-limits: build
	$(GO) run ./cmd/bench -limits -binary $(BIN) $(BENCHFLAGS)

## image: the FROM-scratch container image tollgate:dev, for docker-compose.yml
image: build
	docker build -f cmd/tollgate/Dockerfile -t tollgate:dev .

## chaos: 60 s of chaos against three local nodes under 300 req/s of load:
## SIGKILL (leader included), SIGSTOP/SIGCONT, restart, partition (iptables,
## when root) and a leader kill during a config write, on a seeded schedule;
## then the invariant checks. Exits non-zero when an invariant fails. Report,
## timeline.png and node logs in data/chaos/. More flags: CHAOSFLAGS=...
chaos: build
	$(BIN) chaos --nodes 3 --duration 60s --rate 300 --seed 1 --rate-limit 20 --out data/chaos $(CHAOSFLAGS)

## chaos-compose: a short chaos run against the Docker Compose cluster (a
## leader kill, a follower partition, a restart), when a Docker engine
## answers; otherwise says it is skipped and why.
chaos-compose: build
	@if ! docker info >/dev/null 2>&1; then \
	  echo "chaos-compose: skipped: \`docker info\` fails, no Docker engine reachable"; \
	elif ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then \
	  echo "chaos-compose: skipped: neither \`docker compose\` nor docker-compose is installed"; \
	else \
	  $(MAKE) --no-print-directory image && \
	  $(BIN) chaos --compose --duration 40s --rate 200 --seed 1 --rate-limit 20 --out data/chaos-compose \
	    --plan 'kill:leader@5s+4s,partition:follower@14s+4s,restart:2@23s' $(CHAOSFLAGS); \
	fi

clean:
	rm -rf bin data
