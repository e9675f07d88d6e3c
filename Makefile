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
PYTEST_ARGS ?=

.PHONY: install demo test benchmark clean

install: $(STAMP)

# Order matters (ENVIRONMENT.md): torch, then mmcv with ops built against THAT torch without build
# isolation (about 27 minutes once; pip caches the wheel), then the OpenMMLab packages, then kdseg.
$(STAMP): setup.py requirements/runtime.txt requirements/mmcv.txt requirements/tests.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install $(PIP_EXTRA) "setuptools<81" wheel
	$(PIP) install $(PIP_EXTRA) "$(TORCH_SPEC)"
	MMCV_WITH_OPS=1 $(PIP) install $(PIP_EXTRA) --no-build-isolation -r requirements/mmcv.txt
	$(PIP) install $(PIP_EXTRA) -r requirements/runtime.txt -r requirements/tests.txt
	$(PIP) install $(PIP_EXTRA) --no-build-isolation --no-deps -e .
	$(PY) -c "import kdseg; print('kdseg', kdseg.__version__, 'installed')"
	touch $(STAMP)

demo: install
	$(PY) tools/demo.py --work-dir work_dirs/demo

test: install
	$(PY) -m pytest tests $(PYTEST_ARGS)

benchmark: install
	$(PY) tools/benchmark_losses.py

clean:
	rm -rf work_dirs build *.egg-info
