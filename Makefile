# Fresh-machine setup: a virtual environment with the CPU build of PyTorch installed first.
# Override on the command line, e.g. `make test TORCH_SPEC="torch==2.11.0"` or TORCH_SPEC=torch.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
PIP_FLAGS := --quiet --disable-pip-version-check

.PHONY: setup demo test test-long base-demo verify bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) "$(TORCH_SPEC)"
	$(BIN)/pip install $(PIP_FLAGS) -e ".[test,analogy,pretrained,bench]"
	touch $@

demo: setup
	$(BIN)/wordexperts demo

test: setup
	$(BIN)/python -m pytest -q

# The property-based tests with 25 times CI's cases, new ones each run (docs/reliability.md).
test-long: setup
	WORDEXPERTS_HYPOTHESIS_SCALE=25 $(BIN)/python -m pytest -q tests/test_properties.py

# What `pip install wordexperts` alone gives (no extras, not editable), in a second, throwaway
# environment: `wordexperts demo` must run to exit 0 there and say what the [bench] extra adds.
base-demo:
	@set -e; dir=$$(mktemp -d); trap 'rm -rf "$$dir"' EXIT; \
	echo "base install in $$dir/venv"; \
	$(PYTHON) -m venv "$$dir/venv"; \
	"$$dir/venv/bin/pip" install $(PIP_FLAGS) "$(TORCH_SPEC)"; \
	"$$dir/venv/bin/pip" install $(PIP_FLAGS) .; \
	if "$$dir/venv/bin/python" -c "import xgboost" 2>/dev/null; then echo "the base install has xgboost"; exit 1; fi; \
	cd "$$dir" && "$$dir/venv/bin/wordexperts" demo --out "$$dir/demo" > demo.log 2>&1 || { cat demo.log; exit 1; }; \
	cat demo.log; \
	grep -q 'pip install "wordexperts\[bench\]"' demo.log || { echo "no line about the [bench] extra"; exit 1; }; \
	test -s "$$dir/demo/explain/gates.png"

verify: setup
	$(BIN)/wordexperts verify

bench: setup
	$(BIN)/wordexperts bench masking

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
