# One-command set-up: every target below creates .venv on first use and reuses it afterwards.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DATA   := data/sprites_train_images.npy

.PHONY: help venv data test test-browser lab train evaluate bench exercises clean-venv

help:
	@echo "make lab    set up .venv, build data/ and open lab 1 in JupyterLab"
	@echo "make test   set up .venv, build data/ and run the test suite"
	@echo "make test-browser  run every lab in JupyterLab in headless Chromium and move its main widget"
	@echo "make data   (re)generate the procedural sprite dataset in data/"
	@echo "make train  rebuild weights/ from data/ (resumes an interrupted run from runs/)"
	@echo "make evaluate  offline FID / accuracy / memorisation report of weights/ -> weights/EVALUATION.md"
	@echo "make bench  speed of this course's model and sampler against the original course's -> benchmarks/RESULTS.md"
	@echo "make exercises  write the labs with their exercises to do to exercises/ (keeps your work; LAB=2 for a fresh lab 2)"
	@echo "make venv   only create/refresh the virtual environment"

venv: $(STAMP)

# Reinstalled only when requirements.txt or pyproject.toml change (the stamp is older).
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(DATA): $(STAMP) $(wildcard course_lib/sprites/*.py)
	$(PY) -m course_lib data --preview data/sprites_preview.png

data: $(STAMP)
	$(PY) -m course_lib data --preview data/sprites_preview.png

# Unit tests, then every lab executed top to bottom and compared with its committed outputs.
test: $(STAMP) $(DATA)
	$(PY) -m pytest tests labs --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
		--nbval-cell-timeout 600

# The labs in a real browser. Installs Debian's chromium (with apt-get, as root or through sudo) and Playwright.
CHROMIUM ?= /usr/bin/chromium
BROWSER_STAMP := $(VENV)/.browser-installed

$(CHROMIUM):
	@echo "Installing Chromium (Debian package chromium) for the browser tests"
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq
	$(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

$(BROWSER_STAMP): $(STAMP) requirements-browser.txt
	$(PY) -m pip install --quiet -r requirements-browser.txt
	touch $(BROWSER_STAMP)

test-browser: $(BROWSER_STAMP) $(CHROMIUM) $(DATA)
	CHROMIUM=$(CHROMIUM) $(PY) -m pytest browser_tests -v

# Rooted at the repository (the labs cite data/README.md and weights/EVALUATION.md), opening lab 1.
lab: $(STAMP) $(DATA)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=. labs/1_sampling.ipynb

train: $(STAMP) $(DATA)
	$(PY) -m course_lib train

evaluate: $(STAMP) $(DATA)
	$(PY) -m course_lib evaluate

# The student versions of the labs (nbgrader generate_assignment), into the git-ignored exercises/.
exercises: $(STAMP) $(DATA)
	$(PY) -m course_lib exercises $(if $(LAB),--fresh $(LAB))

bench: $(STAMP)
	$(PY) -m benchmarks.bench

clean-venv:
	rm -rf $(VENV)
