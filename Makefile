# Two commands: `make book` builds the website, `make test` runs every test. Both set up .venv first.
# The other editions: `make book-zh` (Chinese, after `make book`: it reuses its cell outputs), `make pdf`.
VENV ?= .venv
PY := $(VENV)/bin/python
# The checkout's own `companion` comes first on the path, whichever checkout runs make.
export PYTHONPATH := $(CURDIR)
# Quiet, deterministic builds: no progress bars, and a trained-model
# cache inside the checkout so that a build never depends on what an earlier one left elsewhere.
export COMPANION_PROGRESS ?= 0
export COMPANION_CACHE_DIR ?= $(CURDIR)/_build/model-cache
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: install book book-zh pdf pdf-zh po translations test unit notebooks lab serve clean publish install-cells student

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# Every cell runs: the shared execution cache (_config.yml, execute: cache:) starts empty.
book: install fashion-mnist speech-synth
	rm -rf _build/.jupyter_cache
	$(VENV)/bin/jupyter-book build -W --keep-going --all .

# The Chinese edition, to _build/html-zh: the same notebooks with the prose of locales/zh_CN, and the
# cell outputs that `make book` left in the shared cache (a notebook missing from it runs here). It is
# also copied to _build/html/zh, where the English pages' switch points, and so gets published.
book-zh: install fashion-mnist speech-synth cjk-font
	$(PY) tools/edition_config.py zh
	$(VENV)/bin/jupyter-book build -W --keep-going --all --config _build/_config_zh.yml --path-output _build/zh .
	rm -rf _build/html-zh && mv _build/zh/_build/html _build/html-zh
	test ! -d _build/html || (rm -rf _build/html/zh && cp -r _build/html-zh _build/html/zh)

# Translators: extract every page's messages and update locales/zh_CN/LC_MESSAGES/<page>.po (no cell runs).
po: install
	$(PY) tools/edition_config.py gettext
	$(VENV)/bin/jupyter-book build --all --config _build/_config_gettext.yml --builder custom --custom-builder gettext .
	$(VENV)/bin/sphinx-intl update -p _build/gettext -l zh_CN -d locales

# The share of untranslated and fuzzy messages per page (locales/README.md).
translations: po
	$(PY) tools/translation_status.py --pot _build/gettext

# The PDF of the English edition, _build/pdf/book.pdf: the single-page edition printed by Chromium.
# Cell outputs come from the shared cache, like book-zh. `make pdf-zh`: the Chinese one, book-zh.pdf.
pdf: install chromium fashion-mnist speech-synth
	$(PY) tools/edition_config.py pdf
	$(VENV)/bin/jupyter-book build -W --keep-going --all --config _build/_config_pdf.yml --builder singlehtml --path-output _build/pdf-en .
	$(PY) tools/print_pdf.py _build/pdf-en/_build/singlehtml/index.html _build/pdf/book.pdf

pdf-zh: install chromium fashion-mnist speech-synth cjk-font
	$(PY) tools/edition_config.py pdf-zh
	$(VENV)/bin/jupyter-book build -W --keep-going --all --config _build/_config_pdf-zh.yml --builder singlehtml --path-output _build/pdf-zh .
	$(PY) tools/print_pdf.py _build/pdf-zh/_build/singlehtml/index.html _build/pdf/book-zh.pdf

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
test: install chromium fashion-mnist speech-synth cjk-font
	$(PY) -m pytest --nbval-lax -m "not pdf" tests notebooks

# The whole-book PDF check (minutes; after `make test` or `make book`, whose outputs it reuses).
.PHONY: test-pdf
test-pdf: install chromium fashion-mnist speech-synth
	$(PY) -m pytest -m pdf tests/test_editions.py

# Faster loops while writing: the unit tests alone, or the notebooks alone.
unit: install
	$(PY) -m pytest tests -m "not slow"

notebooks: install fashion-mnist speech-synth
	$(PY) -m pytest --nbval-lax notebooks

.PHONY: chromium
chromium:
	@command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)

# A CJK font for figures and the Chinese PDF: WenQuanYi Micro Hei (1.6 MB; companion.plots falls back
# to it for glyphs that DejaVu Sans lacks).
.PHONY: cjk-font
cjk-font:
	@test -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc || \
		(apt-get update -q && apt-get install -y -q fonts-wqy-microhei)

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
