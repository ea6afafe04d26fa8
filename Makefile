# Two commands: `make train` (set up, fetch data, train) and `make test`.
# Overrides pass through to Hydra: make train ARGS="experiment=smoke trainer.max_epochs=2"
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=
# Optional features by name (pyproject's extras): make install EXTRAS=mlflow,optuna
EXTRAS ?=
SYSTEM_DATA := /usr/share/datasets/fashion-mnist

.PHONY: install data train eval test lint tensorboard clean

comma := ,
EXTRA_MARKERS := $(foreach e,$(subst $(comma), ,$(EXTRAS)),$(VENV)/.installed-$(e))
install: $(VENV)/.installed $(EXTRA_MARKERS)

# The core (what `make train` needs), re-installed when the dependencies change; the marker
# records a finished install.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e .
	touch $@

# One marker per extra: a new extra installs it, pyproject changes re-install it.
.PRECIOUS: $(VENV)/.installed-%
$(VENV)/.installed-%: $(VENV)/.installed
	$(PY) -m pip install -e '.[$*]'
	touch $@

# The data: already here, or the Debian/Ubuntu package (as root, or with sudo), or the download.
# A look that finds nothing stays silent: "not found" is said only when every way failed.
data: install
	@found=$$($(PY) -m fashion_resnet.data.idx_files --check 2>&1) && { echo "$$found"; exit 0; }; \
	if command -v apt-get >/dev/null && { [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then \
		echo "Installing the system copy of FashionMNIST (Debian package dataset-fashion-mnist)"; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq dataset-fashion-mnist; \
	fi; \
	found=$$($(PY) -m fashion_resnet.data.idx_files --check 2>&1) && { echo "$$found"; exit 0; }; \
	$(PY) -m fashion_resnet.data.idx_files --download

train: data
	$(PY) -m fashion_resnet.train $(ARGS)

eval: install
	$(PY) -m fashion_resnet.eval $(ARGS)

# The suite in TEST_WORKERS processes (pytest-xdist), one BLAS/OpenMP thread each so that the
# workers do not fight over the cores: TEST_WORKERS=0 runs it in this process.
# `dev`: the test tools and every extra, so that no test skips for want of one.
TEST_WORKERS ?= 2
test: install $(VENV)/.installed-dev
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -n $(TEST_WORKERS) $(ARGS)

lint: install $(VENV)/.installed-dev
	$(VENV)/bin/ruff check src tests scripts

tensorboard: install
	$(VENV)/bin/tensorboard --logdir logs $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
