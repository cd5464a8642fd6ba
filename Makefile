# One-command set-up: every target below creates .venv on first use and reuses it afterwards.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DATA   := data/sprites_train_images.npy

.PHONY: help venv data test lab train evaluate bench clean-venv

help:
	@echo "make lab    set up .venv, build data/ and start JupyterLab on labs/"
	@echo "make test   set up .venv, build data/ and run the test suite"
	@echo "make data   (re)generate the procedural sprite dataset in data/"
	@echo "make train  rebuild weights/ from data/ (resumes an interrupted run from runs/)"
	@echo "make evaluate  offline FID / accuracy / memorisation report of weights/ -> weights/EVALUATION.md"
	@echo "make bench  speed of this course's model and sampler against the original course's -> benchmarks/RESULTS.md"
	@echo "make venv   only create/refresh the virtual environment"

venv: $(STAMP)

# Reinstalled only when requirements.txt or pyproject.toml change (the stamp is older).
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(DATA): $(STAMP) course_lib/sprites.py
	$(PY) -m course_lib data --preview data/sprites_preview.png

data: $(STAMP)
	$(PY) -m course_lib data --preview data/sprites_preview.png

test: $(STAMP) $(DATA)
	$(PY) -m pytest

lab: $(STAMP) $(DATA)
	$(VENV)/bin/jupyter lab labs/

train: $(STAMP) $(DATA)
	$(PY) -m course_lib train

evaluate: $(STAMP) $(DATA)
	$(PY) -m course_lib evaluate

bench: $(STAMP)
	$(PY) -m benchmarks.bench

clean-venv:
	rm -rf $(VENV)
