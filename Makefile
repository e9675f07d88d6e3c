# kdseg: the two set-up commands are `make demo` and `make test`; both install on first use.
PYTHON ?= python3
VENV ?= .venv
# Users with their own torch may override, e.g. `make install TORCH_SPEC="torch==2.4.1"`.
TORCH_SPEC ?= torch==2.13.0
# Extra pip options, e.g. PIP_EXTRA="--find-links ../shared/wheels" for a prebuilt mmcv wheel.
PIP_EXTRA ?=
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.kdseg-installed
CONSTRAINTS := requirements/constraints.txt
PYTEST_ARGS ?=

.PHONY: install check-source-install demo test test-fast benchmark benchmark-kd-gain clean

install: $(STAMP)

# Order matters (ENVIRONMENT.md): torch, then mmcv with ops built against THAT torch without build
# isolation (about 27 minutes once; pip caches the wheel), then the OpenMMLab packages, then kdseg.
# Every pip call takes requirements/constraints.txt, which holds setuptools in [77.0.3, 81): torch
# 2.13.0 would otherwise upgrade it to a release without pkg_resources, and mmcv's setup.py fails.
$(STAMP): setup.py requirements/runtime.txt requirements/mmcv.txt requirements/tests.txt requirements/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install $(PIP_EXTRA) -c $(CONSTRAINTS) setuptools wheel "$(TORCH_SPEC)"
	MMCV_WITH_OPS=1 $(PIP) install $(PIP_EXTRA) -c $(CONSTRAINTS) --no-build-isolation -r requirements/mmcv.txt
	$(PIP) install $(PIP_EXTRA) -c $(CONSTRAINTS) -r requirements/runtime.txt -r requirements/tests.txt
	$(PIP) install $(PIP_EXTRA) -c $(CONSTRAINTS) --no-build-isolation --no-deps -e .
	$(PY) -c "import kdseg; print('kdseg', kdseg.__version__, 'installed')"
	touch $(STAMP)

# CI installs a prebuilt mmcv wheel and never runs mmcv's setup.py. This guard fetches the mmcv
# sdist and runs its metadata step (setup.py egg_info) with the venv's python and setuptools, the
# step a fresh machine's build fails at first; it takes seconds, not the half-hour build.
check-source-install: install
	MMCV_WITH_OPS=1 $(PIP) install --dry-run --no-deps --no-build-isolation --no-binary mmcv \
		--ignore-installed --no-cache-dir -c $(CONSTRAINTS) -r requirements/mmcv.txt

demo: install
	$(PY) tools/demo.py --work-dir work_dirs/demo

test: install
	$(PY) -m pytest tests $(PYTEST_ARGS)

# everything but the end-to-end runs (tests marked e2e: training through the tools in subprocesses)
test-fast: install
	$(PY) -m pytest tests -m "not e2e" $(PYTEST_ARGS)

benchmark: install
	$(PY) tools/benchmark_losses.py

# Does distillation make the student better? Mean ± sd over seeds, paired arms (docs/benchmarks.md).
benchmark-kd-gain: install
	$(PY) tools/benchmark_kd_gain.py

clean:
	rm -rf work_dirs build *.egg-info
