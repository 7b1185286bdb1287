# DON Predictor. On a fresh machine: `make run` (set up and start the app) or `make test` (set up and run the tests).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MODELS_DIR ?= $(or $(DON_MODELS_DIR),models)
PORT ?= 8501

DEV_DATA ?= ../shared/data/corn_hsi_dev.csv

.PHONY: help venv checkov run data models lint format test test-fast bench bench-predict bench-batch bench-history bench-app bench-train bench-accuracy bench-tune bench-explore bench-screening bench-load bench-lab-loop clean

help:
	@echo "make run       set up .venv, build demo data and default models if missing, start the app on :$(PORT)"
	@echo "make test      set up .venv if missing, lint (ruff, hadolint) and run the whole test suite"
	@echo "make test-fast the unit layer only (tests not marked slow: no model training, app or browser)"
	@echo "make data      regenerate the synthetic demo data in data/"
	@echo "make models    train quick demo RF and TF models (train --quick) on the demo data into $(MODELS_DIR)/"
	@echo "make lint      ruff check + ruff format --check (+ hadolint when a Dockerfile exists)"
	@echo "make bench     every benchmark: bench-predict, bench-history, bench-app, bench-accuracy"
	@echo "make bench-batch  streamed scoring of 100k and 1M rows against the parse time, peak RSS, Dask engine"
	@echo "make bench-train [TRAIN_BACKENDS='tf rf']  training time: CLI (wall, CPU), app, CLI beside a busy core"
	@echo "make bench-tune BACKEND=rf|tf     nested hyperparameter search on the dev data"
	@echo "make bench-explore GROUP=rf|tf|tf-ensemble  one line per model variant on the dev data (ONLY= picks some)"
	@echo "make bench-load   6 browser sessions upload the real file at once during a training: fair use under load"
	@echo "make bench-lab-loop [LAB_SHARE=0.05] [LAB_BACKEND=rf|tf]  the lab's loop simulated on the dev data: verified rate, retraining"
	@echo "make bench-screening [SCREEN_BACKENDS=rf tf] [SCREEN_REPEATS=3]  screening verdicts by nested CV (docs/validation_report.md)"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# checkov in a venv of its own (requirements-checkov.txt says why); tests/test_k8s.py runs it on ops/k8s/.
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

checkov: $(CHECKOV_VENV)/.installed

data/demo_calibration.csv data/demo_upload.csv: | $(VENV)/.installed
	$(PY) -m don_predictor demo-data --out data

data: $(VENV)/.installed
	$(PY) -m don_predictor demo-data --out data

# Quick demo models (train --quick: fewer trees, members and epochs, 2-fold CV for the intervals), RF and TF trained
# side by side: a first `make run` reaches the app in a few minutes. Train real models with the defaults.
DEMO_TRAIN = $(PY) -m don_predictor train --data data/demo_calibration.csv --quick --models-dir $(MODELS_DIR)
define demo_models
	$(DEMO_TRAIN) --backend rf & rf=$$!; $(DEMO_TRAIN) --backend tf; tf=$$?; wait $$rf && exit $$tf
endef

$(MODELS_DIR)/active.json: | $(VENV)/.installed data/demo_calibration.csv
	@echo "No models in $(MODELS_DIR)/ yet: training quick demo RF and TF models on the synthetic demo data, side by side (about a minute)..."
	$(demo_models)

models: $(VENV)/.installed data/demo_calibration.csv
	@echo "Training quick demo RF and TF models on the synthetic demo data into $(MODELS_DIR)/, side by side (about a minute)..."
	$(demo_models)

run: $(VENV)/.installed data/demo_calibration.csv $(MODELS_DIR)/active.json
	DON_MODELS_DIR=$(MODELS_DIR) $(PY) -m streamlit run don_predictor/ui/server.py --server.port $(PORT)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@if [ -f Dockerfile ]; then $(VENV)/bin/hadolint Dockerfile; fi

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Two workers (pytest-xdist), one test file each at a time: the app, browser and training tests spend much of
# their time waiting on a server or a browser, so two run side by side on two cores.
TEST_WORKERS ?= 2
test: lint $(CHECKOV_VENV)/.installed
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

test-fast: $(VENV)/.installed
	$(PY) -m pytest -m "not slow" -n $(TEST_WORKERS) --dist loadfile

bench: bench-predict bench-history bench-app bench-accuracy

bench-predict: $(VENV)/.installed data/demo_calibration.csv
	$(PY) benchmarks/bench_predict.py

# Streamed scoring of 100k and 1M generated rows against pyarrow's parse time, peak RSS, and the Dask engine with 2
# local workers (trains the default models on the dev data first; ~30 minutes on 2 cores, most of it the 1M rows).
bench-batch: $(VENV)/.installed
	$(PY) benchmarks/bench_batch.py

# 6 Chromium sessions upload the real 400-row file on Compare at once while a RandomForest training runs in the app:
# time to results (median, max), what the waiting sessions were told, training vs alone, peak RSS, errors (~5 min).
bench-load: $(VENV)/.installed
	$(PY) benchmarks/bench_load.py --data $(DEV_DATA)

bench-history: $(VENV)/.installed
	$(PY) benchmarks/bench_history.py

bench-app: $(VENV)/.installed data/demo_calibration.csv
	$(PY) benchmarks/bench_app.py

# TF and RF training with the defaults on the real dev data: the CLI idle (wall and CPU seconds), through the Train
# page in a browser, and the CLI beside a second CPU-bound process (~10 minutes).
TRAIN_BACKENDS ?= tf rf
bench-train: $(VENV)/.installed
	$(PY) benchmarks/bench_train.py --data $(DEV_DATA) --backends $(TRAIN_BACKENDS)

# Repeated 5x5-fold CV of RF, TF and the PLS baseline on the real dev data (about 9 minutes on 2 cores).
bench-accuracy: $(VENV)/.installed
	$(PY) -m don_predictor evaluate --data $(DEV_DATA) --backend all --folds 5 --repeats 5

# Hyperparameter search nested inside CV on the dev data (BACKEND=rf or tf; slow: tens of minutes).
BACKEND ?= rf
bench-tune: $(VENV)/.installed
	$(PY) benchmarks/tune.py --data $(DEV_DATA) --backend $(BACKEND)

GROUP ?= rf
bench-explore: $(VENV)/.installed
	$(PY) benchmarks/explore.py --data $(DEV_DATA) --group $(GROUP) --only "$(ONLY)"

# Screening verdicts (decided share, false-compliant and false-suspect rates with Clopper-Pearson intervals) by
# repeated nested CV on the dev data: docs/validation_report.md. RF about 9 minutes per repeat on 2 busy cores;
# TF about 3 times that.
SCREEN_BACKENDS ?= rf tf
SCREEN_REPEATS ?= 3
bench-screening: $(VENV)/.installed
	@for backend in $(SCREEN_BACKENDS); do \
		$(PY) benchmarks/bench_screening.py --data $(DEV_DATA) --backends $$backend --repeats $(SCREEN_REPEATS) || exit 1; \
	done

# The lab's loop on the real dev data (issue 24): train on 200 rows, screen 200 in 4 batches with worklists, the lab's
# values back, the verified false-compliant rate against the CV figure, the decided share after retraining (~5 min).
LAB_SHARE ?= 0.05
LAB_BACKEND ?= rf
bench-lab-loop: $(VENV)/.installed
	$(PY) benchmarks/bench_lab_loop.py --data $(DEV_DATA) --share $(LAB_SHARE) --backend $(LAB_BACKEND)

clean:
	rm -rf .pytest_cache .ruff_cache
