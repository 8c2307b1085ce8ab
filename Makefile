# Fresh-machine setup: a virtual environment with the CPU build of PyTorch installed first.
# Override on the command line, e.g. `make test TORCH_SPEC="torch==2.11.0"` or TORCH_SPEC=torch.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: setup demo test verify bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[test,analogy,pretrained,bench]"
	touch $@

demo: setup
	$(BIN)/wordexperts demo

test: setup
	$(BIN)/python -m pytest -q

verify: setup
	$(BIN)/wordexperts verify

bench: setup
	$(BIN)/wordexperts bench masking

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
