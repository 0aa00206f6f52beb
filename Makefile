# make demo / make test do all set-up on a fresh machine: a .venv, the pinned install, the Debian data package.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
FASHION := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all setup data test test-fast test-gpu lint demo experiments bench bench-ddp hypothesis-long browser-test site \
        notebooks clean

all: test

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP) data

# Fashion-MNIST comes from Debian's dataset-fashion-mnist package; install it when missing and apt is usable.
data:
	@if [ ! -f $(FASHION) ]; then \
	  if command -v apt-get >/dev/null 2>&1 && { [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then \
	    echo "installing dataset-fashion-mnist"; \
	    $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist; \
	  else \
	    echo "note: Fashion-MNIST is missing and apt is not usable; run 'apt-get install dataset-fashion-mnist'" \
	         "or put its IDX files in \$$DLFS_DATA/fashion-mnist (see docs/data.md)"; \
	  fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .

test: setup lint
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 parity_tests

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 -x parity_tests

# The parity suite's torch side on a GPU, against the scratch side: DLFS_TORCH_DEVICE=cuda is the default device of
# every torch network and layer, and parity_tests/conftest.py turns TF32 off and deterministic algorithms on (cuBLAS
# reads CUBLAS_WORKSPACE_CONFIG when it starts, so it is set here). Needs a CUDA build of torch and a GPU; CI has
# neither, so this is not part of `make test` (docs/distributed.md).
GPU_TESTS := parity_tests/test_concepts.py parity_tests/test_device.py
test-gpu: $(STAMP)
	@$(BIN)/python -c "import torch; raise SystemExit(not torch.cuda.is_available())" \
	  || { echo "test-gpu needs a GPU and a CUDA build of torch (torch.cuda.is_available() is False here)"; exit 1; }
	DLFS_TORCH_DEVICE=cuda CUBLAS_WORKSPACE_CONFIG=:4096:8 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 $(GPU_TESTS)

# The run report and the study site in headless Chromium (Debian's chromium package; .ci/run installs it; the site's
# tests drive it with Playwright). `make test` collects these tests only where Chromium exists; here a missing
# Chromium is an error.
browser-test: $(STAMP)
	@$(BIN)/python -c "from experiments.report import find_chromium; raise SystemExit(find_chromium() is None)" \
	  || { echo "browser-test needs Chromium: apt-get install -y chromium (or set DLFS_CHROMIUM)"; exit 1; }
	$(BIN)/python -m pytest parity_tests/test_report_browser.py parity_tests/test_site_browser.py

# The chapter notebooks (notebooks/NN_*.py, jupytext percent format) as executed .ipynb files in notebooks/build/.
notebooks: $(STAMP)
	$(BIN)/python notebooks/build.py --execute

# The study site, offline: open runs/site/index.html (`dlfs site --serve` serves it on 127.0.0.1).
site: $(STAMP)
	$(BIN)/dlfs site --out runs/site --overwrite

demo: setup
	$(BIN)/python -m experiments.demo --out runs/demo --overwrite

# The property-based parity tests with ten times the examples of `make test` (hypothesis profile "long", registered in
# parity_tests/conftest.py): about 6,000 random shapes and hyper-parameters through check_layer_parity.
hypothesis-long: $(STAMP)
	DLFS_HYPOTHESIS_PROFILE=long OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	  $(BIN)/python -m pytest -n 2 parity_tests/test_properties.py --hypothesis-show-statistics

# Longer runs, not CI.
experiments: setup
	$(BIN)/python -m experiments.regression --backend both --dataset boston --out runs/regression --overwrite
	$(BIN)/python -m experiments.ladder --backend both --dataset digits --out runs/ladder-digits --overwrite
	$(BIN)/python -m experiments.cnn --model ch5 --dataset fashion-mnist --backend both --out runs/cnn-ch5 --overwrite
	$(BIN)/python -m experiments.char_lstm --cell lstm --backend both --threads 1 --out runs/char-lstm --overwrite
	$(BIN)/python -m experiments.autoencoder --dataset digits --backend both --out runs/autoencoder --overwrite

# The table at one thread per library (the trusted setting: both interleaved in one process, peak memory from fresh
# processes), the same at two threads with each library timed alone in its own processes, the batch-size series
# with its plot (docs/benchmarks.md), the torch Trainer against a bare loop (docs/trainer_overhead.md) and t-SNE of
# the digits against scikit-learn (docs/tsne.md; ~5 minutes).
bench: setup
	$(BIN)/python -m benchmarks --threads 1 --json runs/benchmarks.json
	$(BIN)/python -m benchmarks --threads 2 --method processes --no-memory --json runs/benchmarks-2threads.json
	$(BIN)/python -m benchmarks.bench_batch --threads 1 --json runs/bench-batch.json --png runs/bench-batch.png
	$(BIN)/python -m benchmarks.bench_trainer --threads 1 --json runs/bench-trainer.json
	$(BIN)/python -m benchmarks.bench_tsne --threads 1 --json runs/bench-tsne.json

# Data-parallel throughput: chapter 5's CNN in one process and on 2 torchrun ranks (gloo, 127.0.0.1), samples/s.
bench-ddp: setup
	$(BIN)/python -m benchmarks.bench_ddp --json runs/bench-ddp.json

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .hypothesis
