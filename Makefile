# Quick start:  make demo   (set up, then run the SNGP two-moons comparison)
#               make test   (set up, then run the test suite)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-dev
DOCS_STAMP := $(VENV)/.installed-docs
OUT    ?= demo_output
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: reproduce demo test test-gpu docs docs-test chromium bench setup fashion-mnist evidential evidential-fashion readme-results clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,dask,ray]'
	$(PY) -m ipykernel install --sys-prefix --name numpyuq --display-name "numpyuq (.venv)" >/dev/null
	touch $(STAMP)

$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev,dask,ray,docs]'
	touch $(DOCS_STAMP)

# Debian's Fashion-MNIST (IDX files in /usr/share/datasets/fashion-mnist).
fashion-mnist:
	@dpkg -s dataset-fashion-mnist >/dev/null 2>&1 || $(SUDO) apt-get install -y -q dataset-fashion-mnist \
		|| ($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q dataset-fashion-mnist)

demo: $(STAMP)
	$(VENV)/bin/numpyuq demo --out $(OUT)

evidential: $(STAMP)
	$(VENV)/bin/numpyuq evidential --baseline --out evidential_output

# uncertainty-baselines' LeNet5 table on Fashion-MNIST (models in reproduce_output/, resumed if interrupted).
reproduce: $(STAMP) fashion-mnist
	$(VENV)/bin/numpyuq reproduce uncertainty-baselines --out reproduce_output

evidential-fashion: $(STAMP) fashion-mnist
	$(VENV)/bin/numpyuq evidential --dataset fashion-mnist --baseline --out evidential_output

# The Fashion-MNIST tests are skipped when the package cannot be installed (no apt, no rights).
test: $(STAMP)
	-@$(MAKE) --no-print-directory fashion-mnist || echo "dataset-fashion-mnist not installed: its tests will be skipped"
	$(PY) -m pytest -q

# On a machine with an NVIDIA GPU and CUDA 12: install CuPy, then run the tests that need the real
# device (the backend suite on cupy and the CUDA kernels); everywhere else they are skipped.
test-gpu: $(STAMP)
	$(PY) -m pip install --quiet -e '.[gpu]'
	$(PY) -m pytest -q -m gpu -rs

# The documentation site into site/ (NUMPYUQ_FAST=1: a few minutes on 2 cores, as CI builds it).
# Serve it with: python -m http.server -d site
docs: $(DOCS_STAMP)
	-@$(MAKE) --no-print-directory fashion-mnist || echo "dataset-fashion-mnist not installed: the EDL tutorial uses digits28"
	$(PY) docs/build.py

# Debian's Chromium and ChromeDriver, for the browser test of the site.
chromium:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
		$(SUDO) apt-get install -y -q chromium chromium-driver || \
		($(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium chromium-driver)

# Build the site, then open every page in headless Chromium (tests/docs/test_site.py).
docs-test: docs chromium
	NUMPYUQ_REQUIRE_SITE=1 $(PY) -m pytest -q -rs tests/docs

bench: $(STAMP) fashion-mnist
	$(PY) benchmarks/moons.py
	$(PY) benchmarks/lenet.py
	$(PY) benchmarks/evidential.py

readme-results: $(STAMP) fashion-mnist
	$(PY) benchmarks/update_readme.py

clean:
	rm -rf $(VENV) $(OUT) figures evidential_output .pytest_cache site site-screenshots docs/_generated
