# Two commands: `make book` builds the website, `make test` runs every test. Both set up .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
# The checkout's own `companion` comes first on the path, whichever checkout runs make.
export PYTHONPATH := $(CURDIR)
# Quiet, deterministic builds: no progress bars, and a trained-model
# cache inside the checkout so that a build never depends on what an earlier one left elsewhere.
export COMPANION_PROGRESS ?= 0
export COMPANION_CACHE_DIR ?= $(CURDIR)/_build/model-cache
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: install book test unit notebooks lab serve clean publish install-cells student

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

book: install fashion-mnist speech-synth
	$(VENV)/bin/jupyter-book build -W --keep-going --all .

# Build, then push the site to the gh-pages branch of `origin` (GitHub Pages' "deploy from a branch";
# .github/workflows/deploy-book.yml is the automatic route). --no-jekyll: Pages must serve _static/.
publish: book
	$(VENV)/bin/ghp-import --no-jekyll --push --branch gh-pages \
		--message "Publish the book $$($(PY) -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')" \
		_build/html

# After changing _config.yml's repository URL: write the matching install cell into every chapter.
install-cells: install
	$(PY) book/_ext/install_cell.py

# The whole suite: unit tests, every notebook under nbval, the book build with -W, a real browser.
test: install chromium fashion-mnist speech-synth
	$(PY) -m pytest --nbval-lax tests notebooks

# Faster loops while writing: the unit tests alone, or the notebooks alone.
unit: install
	$(PY) -m pytest tests -m "not slow"

notebooks: install fashion-mnist speech-synth
	$(PY) -m pytest --nbval-lax notebooks

.PHONY: chromium
chromium:
	@command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)

# Chapter 5.1's data set: Debian's package of the four Fashion-MNIST IDX files (30 MB, MIT licence).
# Elsewhere, set FASHION_MNIST_DIR to a folder holding the same four files.
.PHONY: fashion-mnist
fashion-mnist:
	@test -n "$$FASHION_MNIST_DIR" || test -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz || \
		(apt-get update -q && apt-get install -y -q dataset-fashion-mnist)

# Chapter 5.3 synthesises its keyword data with Debian's espeak-ng and flite.
.PHONY: speech-synth
speech-synth:
	@command -v espeak-ng >/dev/null && command -v flite >/dev/null || \
		(apt-get update -q && apt-get install -y -q espeak-ng flite)

# The student edition: the notebooks without their hidden solutions, self-checks kept. Standard library
# only, so it needs neither the network nor the virtual environment.
STUDENT_DIR ?= _build/student
student:
	python3 tools/make_student.py notebooks $(STUDENT_DIR)

lab: install
	$(VENV)/bin/jupyter lab notebooks/

serve:
	$(PY) -m http.server --directory _build/html --bind 127.0.0.1 8000

clean:
	rm -rf _build
