# Each target is a thin `uv run ...`; `uv sync` makes the environment from uv.lock first.
UV ?= uv
# --compile-bytecode: what pip does at install and uv does not by default; where
# PYTHONDONTWRITEBYTECODE is set (this CI's machines) every command would otherwise
# compile its libraries from source at each start (imports 12.8 s -> 4.7 s under load)
SYNC = $(UV) sync --frozen --quiet --all-extras --compile-bytecode
DEMO_DIR ?= demo
DEMO_ACCOUNTS ?= 10000
PYTEST_ARGS ?=

.PHONY: demo test lint format bench clean

demo:  ## the whole flow on the embedded default: simulate 2019, validate, target, preview, enforce, serve
	$(SYNC)
	$(UV) run fairban simulate --accounts $(DEMO_ACCOUNTS) --seed 2019 --after 2 --out $(DEMO_DIR) --force
	$(UV) run fairban validate $(DEMO_DIR)/directive.yaml --data $(DEMO_DIR)/evidence
	$(UV) run fairban target $(DEMO_DIR)/directive.yaml --data $(DEMO_DIR)/evidence --out $(DEMO_DIR)/decisions
	$(UV) run fairban preview $(DEMO_DIR)/directive.yaml --data $(DEMO_DIR)/evidence --out $(DEMO_DIR)/report --force
	@echo "The dry-run report: $(DEMO_DIR)/report/index.html"
	UV="$(UV)" scripts/demo_enforce.sh $(DEMO_DIR)

test:  ## the whole test suite (slow tests included: CI runs them too)
	$(SYNC)
	$(UV) run pytest -n 2 $(PYTEST_ARGS)

lint:  ## ruff, mypy (strict on src/) and the import layers (import-linter)
	$(SYNC)
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy
	$(UV) run lint-imports

format:
	$(SYNC)
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

bench:  ## benchmarks; results go to docs/benchmarks.md by hand, with the command and machine
	$(SYNC)
	$(UV) run python benchmarks/run_all.py

clean:
	rm -rf $(DEMO_DIR) .pytest_cache .mypy_cache .ruff_cache
