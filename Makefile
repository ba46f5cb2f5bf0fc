# Two commands on a fresh Debian machine with Python 3.11:
#   make run    install what is missing, then start the server with demo content
#   make test   install what is missing, then run the whole test suite
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := ffmpeg libopus0 espeak-ng
# The fleet tests start their own redis-server instances; the web console's tests drive Debian's Chromium.
TEST_APT_PACKAGES := redis-server chromium
# make run-fleet needs only redis-server on top of make run's packages.
FLEET_APT_PACKAGES := redis-server
MOTO_PORT ?= 5055
S3_DEMO_BUCKET ?= cheeko-audio-files
# Server ports for make run / run-s3 (e.g. make run PORT=8100 HTTP_PORT=8103).
PORT ?= 8000
HTTP_PORT ?= 8003
# make run-fleet's nodes, WS:HTTP each (e.g. make run-fleet FLEET_NODES="9000:9003 9100:9103"); FLEET_ARGS go to
# deploy/run_fleet.py (e.g. FLEET_ARGS="--config fleet.yaml").
FLEET_NODES ?= 8000:8003 8100:8103
FLEET_ARGS ?=

.PHONY: help deps test-deps fleet-deps system-deps venv venv-test venv-moto run run-s3 run-fleet check test bench demo clean

help:
	@echo "make run      start the server (ws://0.0.0.0:$(PORT)/xiaozhi/v1/, OTA http://0.0.0.0:$(HTTP_PORT)/xiaozhi/ota/) with demo content; the test device at http://localhost:$(HTTP_PORT)/"
	@echo "               ports: make run PORT=8100 HTTP_PORT=8103"
	@echo "make run-s3   the same through the S3 backend, against a local moto S3 server (MOTO_PORT=$(MOTO_PORT))"
	@echo "make demo     generate the demo library into demo-content/"
	@echo "make test     the static checks (ruff, mypy), then the test suite"
	@echo "make check    only the static checks"
	@echo "make run-fleet  two nodes (ports $(FLEET_NODES)) sharing a local Redis; Ctrl-C drains them, then stops Redis"
	@echo "make bench    run the benchmarks (prints figures)"
	@echo "make deps     only the installs (make test-deps: with the test packages)"
	@echo "make clean    remove .venv, the demo library and the local caches"

deps: system-deps venv

test-deps: APT_PACKAGES += $(TEST_APT_PACKAGES)
test-deps: system-deps venv-test

fleet-deps: APT_PACKAGES += $(FLEET_APT_PACKAGES)
fleet-deps: system-deps venv

# Debian packages: installed only when missing (apt needs root; sudo is used when available).
system-deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(PY) -c "import ensurepip, venv" >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = "0" ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	@test -x $(BIN)/python || { echo "creating the virtualenv in $(VENV)"; $(PY) -m venv $(VENV); }
	@echo "installing Python packages into $(VENV) (first run: a few minutes; progress below)"
	$(BIN)/python -m pip install --upgrade pip --progress-bar on
	$(BIN)/python -m pip install -r requirements.txt --progress-bar on
	@touch $@
	@echo "Python packages installed"

venv-test: $(VENV)/.installed-test

$(VENV)/.installed-test: requirements.txt requirements-test.txt $(VENV)/.installed
	@echo "installing test packages into $(VENV)"
	$(BIN)/python -m pip install -r requirements-test.txt --progress-bar on
	@touch $@

# moto's S3 server alone (for make run-s3), at the version requirements-test.txt pins; not the whole test set.
venv-moto: $(VENV)/.installed-moto

$(VENV)/.installed-moto: requirements-test.txt $(VENV)/.installed
	@echo "installing moto's S3 server into $(VENV)"
	$(BIN)/python -m pip install "$$(grep -E '^moto\[' requirements-test.txt)" --progress-bar on
	@touch $@

# XIAOZHI_MAKE_TARGET: the server names this target's variables (make run PORT=...) in its hints, not its flags.
run: deps
	XIAOZHI_MAKE_TARGET=run $(BIN)/python app.py serve --port $(PORT) --http-port $(HTTP_PORT)

# The whole S3 path on one machine: moto's S3 server on loopback, the demo catalog uploaded to it, the server
# reading catalogs and audio through the S3 backend. Ctrl-C stops both (moto may be gone by then: the trap's kill
# must not fail the recipe under set -e).
run-s3: deps venv-moto
	@set -e; \
	for v in MOTO_PORT=$(MOTO_PORT) PORT=$(PORT) HTTP_PORT=$(HTTP_PORT); do \
	  if $(BIN)/python -c "import socket,sys; sys.exit(socket.socket().connect_ex(('127.0.0.1',$${v#*=})) != 0)"; then \
	    echo "port $${v#*=} is already taken (another server?); pick another: make run-s3 $${v%%=*}=..." >&2; \
	    exit 1; \
	  fi; \
	done; \
	$(BIN)/moto_server -H 127.0.0.1 -p $(MOTO_PORT) >/tmp/moto-$(MOTO_PORT).log 2>&1 & moto=$$!; \
	trap "kill $$moto 2>/dev/null || true" EXIT; \
	$(BIN)/python -c "import socket,sys,time; [time.sleep(0.2) for _ in range(50) if socket.socket().connect_ex(('127.0.0.1',$(MOTO_PORT)))]; sys.exit(socket.socket().connect_ex(('127.0.0.1',$(MOTO_PORT))) != 0)" \
	  || { echo "moto did not start on port $(MOTO_PORT); see /tmp/moto-$(MOTO_PORT).log" >&2; exit 1; }; \
	export S3_ENDPOINT_URL=http://127.0.0.1:$(MOTO_PORT) S3_BUCKET=$(S3_DEMO_BUCKET) AWS_ACCESS_KEY_ID=testing \
	       AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1; \
	$(BIN)/python app.py demo demo-content; \
	$(BIN)/python app.py catalog upload demo-content --create-bucket --public; \
	XIAOZHI_MAKE_TARGET=run-s3 $(BIN)/python app.py serve --port $(PORT) --http-port $(HTTP_PORT)

# Two nodes sharing one local Redis (state, registry, bus): OTA on either port hands out the least-loaded node.
# deploy/run_fleet.py starts Redis and the nodes outside the terminal's process group, so Ctrl-C reaches only it:
# it drains the nodes, then stops Redis.
run-fleet: fleet-deps
	$(BIN)/python app.py demo demo-content
	XIAOZHI_MAKE_TARGET=run-fleet $(BIN)/python deploy/run_fleet.py --content-dir demo-content \
	  $(foreach n,$(FLEET_NODES),--node $(n)) $(FLEET_ARGS)

# Static checks: ruff (lint and import order) and mypy (strict on the sans-I/O centre; pyproject.toml).
check: test-deps
	$(BIN)/ruff check .
	$(BIN)/mypy

test: check
	$(BIN)/python -m pytest

bench: test-deps
	$(BIN)/python bench/match_bench.py
	$(BIN)/python bench/match_eval_report.py
	$(BIN)/python bench/controls_eval_report.py
	$(BIN)/python bench/intent_bench.py
	$(BIN)/python bench/understand_bench.py
	$(BIN)/python bench/catalog_bench.py
	$(BIN)/python bench/local_library_bench.py
	$(BIN)/python bench/stream_bench.py
	$(BIN)/python bench/decoder_bench.py
	$(BIN)/python bench/resume_bench.py
	$(BIN)/python bench/player_bench.py
	$(BIN)/python bench/tts_bench.py
	$(BIN)/python bench/voice_bench.py
	$(BIN)/python bench/indic_bench.py
	$(BIN)/python bench/server_bench.py
	$(BIN)/python bench/load_bench.py
	$(BIN)/python bench/storm_bench.py
	$(BIN)/python bench/abuse_bench.py
	$(BIN)/python bench/fleet_bench.py
	$(BIN)/python bench/policy_bench.py
	$(BIN)/python bench/mqtt_bench.py

demo: deps
	$(BIN)/python app.py demo demo-content

clean:
	rm -rf $(VENV) demo-content metadata/catalog-cache metadata/audio-cache metadata/phrase-cache .pytest_cache
