# Two commands matter: `make run` and `make test`. Both set up .venv by themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# What a development venv installs: the dev tools and every optional extra (ccxt).
DEV_EXTRAS := dev,ccxt
# make run: a cycle every 60 s instead of the shipped 300, so the console shows work soon.
RUN_ARGS ?= --poll-interval 60

.PHONY: run test lint soak bench venv bytecode clean lock calendars

venv: $(STAMP)

# Reinstall only when the pinned dependency set changes.
$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "peaktrade-daemon needs Python 3.11+")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[$(DEV_EXTRAS)]'
	$(PY) -m compileall -q -j 0 -o 2 "$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
	touch $@

# Byte-compile the package as `pip install .` would: an editable install otherwise compiles every
# module on every start when PYTHONDONTWRITEBYTECODE is set (about 0.3 s per start; the suite
# starts hundreds of CLI processes). Incremental: only changed modules are recompiled. Level 2 too
# (the venv's libraries get it at install, above): the daemon runs under `python -OO`.
bytecode: $(STAMP)
	$(PY) -m compileall -q -o 0 -o 2 peaktrade_daemon

# As the systemd unit and the Docker image run it: -OO drops docstrings and asserts (about 6 MiB
# of RSS), -P keeps the working directory off sys.path.
run: bytecode
	$(PY) -OO -P -m peaktrade_daemon --root . $(RUN_ARGS)

test: bytecode
	$(PY) -m pytest -q -n 2 --dist worksteal $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check peaktrade_daemon tests bench tools
	$(VENV)/bin/ruff format --check peaktrade_daemon tests bench tools
	$(VENV)/bin/mypy

# The soak at the issue's cadence: 30 simulated days, a cycle every 300 s (make test: every 3600 s).
soak: bytecode
	PEAKTRADE_SOAK_POLL_S=300 $(PY) -m pytest -q -n 2 tests/soak

bench: bytecode
	$(PY) bench/run_all.py

# Regenerate the trading-calendar tables (package data, 2004 to two years ahead) from
# exchange_calendars, a development dependency the daemon never imports.
calendars: $(STAMP)
	$(PY) tools/generate_calendars.py

# Regenerate the full transitive pin set after changing pyproject.toml.
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/pip install --quiet --disable-pip-version-check -e '.[$(DEV_EXTRAS)]'
	.lockvenv/bin/pip freeze --exclude-editable | grep -v '^peaktrade-daemon' > constraints.txt
	rm -rf .lockvenv

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
