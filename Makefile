# Two entry points (see README): `make run` (the proxy on its embedded defaults) and
# `make test`. Both create .venv on first use. `make run ARGS="--config f.yaml --port 8000"`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCK := .venv.lock

.PHONY: run example test lint bench clean venv-install browser-deps

# `make run` and `make test` may start together on a fresh clone: the first one builds
# .venv under an exclusive lock (flock(1) from util-linux), the other waits for it and then
# finds it ready instead of racing it. Without flock the build runs unlocked.
$(STAMP): pyproject.toml
	@if command -v flock >/dev/null 2>&1; then \
		flock $(LOCK) $(MAKE) --no-print-directory venv-install; \
	else \
		$(MAKE) --no-print-directory venv-install; \
	fi

venv-install:
	@if [ -f $(STAMP) ] && [ $(STAMP) -nt pyproject.toml ]; then exit 0; fi; \
	echo "creating $(VENV) (first run only)"; \
	$(PYTHON) -m venv $(VENV) && \
	$(PY) -m pip install -q --upgrade pip && \
	$(PY) -m pip install -q -e '.[dev]' && \
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/llmrelay serve $(ARGS)

example: $(STAMP)
	$(PY) examples/quickstart.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench examples
	$(VENV)/bin/mypy

test: lint browser-deps
	$(VENV)/bin/pytest -q

# The dashboard's browser tests drive Debian's chromium with Playwright: installed here
# when missing (apt-get, under a lock; see the script).
browser-deps:
	@sh scripts/ensure_chromium.sh

bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) $(LOCK) build *.egg-info src/*.egg-info
