# Two commands: `make demo` (the main job on the embedded default) and `make test` (what CI runs).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test gates pytest install clean screenshot

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/rca demo

# lint, format, types and the import layers, then the tests
test: gates pytest

gates: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

pytest: $(STAMP)
	$(BIN)/python -m pytest

# look at a report as a reader does: headless Chromium (Debian package chromium), every case expanded
REPORT ?= runs/demo/report/report.html
HEIGHT ?= 16000
screenshot:
	chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
	  --disable-component-update --disable-sync --user-data-dir=$$(mktemp -d) --window-size=1280,$(HEIGHT) \
	  --screenshot=$(dir $(REPORT))report.png "file://$(abspath $(REPORT))#open"

clean:
	rm -rf $(VENV) build dist *.egg-info
