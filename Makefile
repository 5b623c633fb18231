# fastpyfunc: every entry point (README, CI, developers) goes through this file.
#   make test   install everything into .venv, build, run cargo test and pytest
#   make demo   build, then load and predict the example models next to mlflow.pyfunc
#   make wheel  build the abi3 wheel and the sdist into dist/
#   make bench  run the benchmarks and print their tables
#   make bench-spark  the Spark benchmark (fastpyfunc.spark_udf next to mlflow's)
#   make bench-scanners  fastpyfunc.scan vs picklescan, modelscan, fickling on the safety corpora
#   make mlflow-tests  mlflow's own model-export test files, plain vs fastpyfunc.install() (MLFLOW_TESTS_DIR)
#   make lint   cargo fmt --check, clippy -D warnings, ruff

SHELL  := /bin/bash
VENV   ?= .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: help venv build wheel test test-rust test-python lint fmt demo bench bench-spark bench-scanners test-spark35 mlflow-tests java fuzz lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check uv==0.13.9
	$(UV) pip install -p $(PY) -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed ## create .venv with every build/test dependency (pinned)

# The TorchScript engine links libtorch, so it is its own shared library; build.rs builds it
# against the torch wheel in .venv (FASTPYFUNC_TORCH names it) and stages it under
# target/wheel-data/ for wheels. `maturin develop` imports the package from python/, so the
# engine this build made is copied next to it there (gitignored, never packed from there).
# TORCH_ENV is the same setting for clippy.
TORCH_DIR = $(shell $(PY) -c "import importlib.util as u; print(u.find_spec('torch').submodule_search_locations[0])")
TORCH_ENV = LIBTORCH=$(TORCH_DIR) LIBTORCH_CXX11_ABI=1 LIBTORCH_BYPASS_VERSION_CHECK=1
# Where build.rs's nested cargo build leaves the engine (the staged copy under wheel-data is
# removed by any build of the extension without torch, e.g. clippy's).
ENGINE_BUILT = target/torch-engine/release/libfastpyfunc_torch.so

build: venv ## build the extension and the TorchScript engine (build.rs) into .venv (release)
	mkdir -p target/wheel-data  # maturin checks its data directory before build.rs fills it
	FASTPYFUNC_TORCH=$(TORCH_DIR) $(VENV)/bin/maturin develop --release -q
	cp $(ENGINE_BUILT) python/fastpyfunc/libfastpyfunc_torch.so.tmp
	mv python/fastpyfunc/libfastpyfunc_torch.so.tmp python/fastpyfunc/libfastpyfunc_torch.so

wheel: venv ## abi3 wheel (with the TorchScript engine, built against .venv's torch) and sdist, into dist/
	mkdir -p target/wheel-data
	FASTPYFUNC_TORCH=$(TORCH_DIR) $(VENV)/bin/maturin build --release -o dist
	$(VENV)/bin/maturin sdist -o dist

test-rust: ## Rust unit and property tests of the core
	cargo test --quiet

# PySpark needs a Java runtime: installed with apt-get only where `java` is missing.
SUDO = $(if $(filter 0,$(shell id -u)),,sudo)
java: ## install a Java 17 runtime for PySpark if there is none
	@command -v java >/dev/null || { $(SUDO) apt-get update -q && \
	  $(SUDO) apt-get install -y -q --no-install-recommends openjdk-17-jre-headless; }

test-python: build java ## pytest against real mlflow
	$(PY) -m pytest tests

test: build test-rust test-python ## install, build, run every test

lint: venv ## formatting, clippy, ruff and mypy
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --features python -- -D warnings
	$(TORCH_ENV) cargo clippy -p fastpyfunc-torch --target-dir target/torch-engine -- -D warnings
	$(VENV)/bin/ruff check python tests benches examples
	$(VENV)/bin/ruff format --check python tests benches examples
	$(VENV)/bin/mypy python/fastpyfunc --ignore-missing-imports
	$(PY) -m mypy.stubtest fastpyfunc._native

fmt: venv ## apply cargo fmt and ruff format
	cargo fmt
	$(VENV)/bin/ruff format python tests benches examples
	$(VENV)/bin/ruff check --fix python tests benches examples

demo: build ## the example ONNX model on the native engine next to mlflow.pyfunc, then the Python-route one
	$(PY) examples/demo.py

bench: build ## benchmarks (side by side with mlflow and the raw engines)
	$(PY) benches/run.py

SPARK_BENCH_ARGS ?=
bench-spark: build java ## Spark: fastpyfunc.spark_udf / spark.predict next to mlflow.pyfunc.spark_udf and Spark's floor
	$(PY) benches/spark_bench.py $(SPARK_BENCH_ARGS)

# Spark 3.5 has no arrow_udf: spark_udf falls back to a pandas_udf. Its own venv (pandas 2, as
# Spark 3.5 needs), the package from this checkout's python/ (built by `build`); not part of `test`.
# TorchScript and SavedModel cases are left out (torch and tensorflow are not installed there).
SPARK35_VENV = .venv-spark35
$(SPARK35_VENV)/bin/python: | venv
	$(UV) venv -q -p $(PY) $(SPARK35_VENV)
	$(UV) pip install -q -p $(SPARK35_VENV)/bin/python "pyspark==3.5.*" "pandas<3" numpy pyarrow \
		"mlflow==$$($(PY) -c 'import mlflow; print(mlflow.__version__)')" pytest hypothesis \
		onnxruntime skl2onnx scikit-learn skops

test-spark35: build java $(SPARK35_VENV)/bin/python ## tests/test_spark.py on Spark 3.5 (the pandas_udf fallback)
	PYTHONPATH=$(CURDIR)/python $(SPARK35_VENV)/bin/python -m pytest tests/test_spark.py -k "not torchscript and not savedmodel"

# mlflow's test files are not in this repository: see notes/README-mlflow-tests.md for getting them.
MLFLOW_TESTS_DIR ?= /work/mlflow-tests
MLFLOW_TESTS_ARGS ?=
mlflow-tests: build ## mlflow's own model-export/schema test files: plain mlflow vs fastpyfunc.install(), per-file table
	$(PY) tools/mlflow_tests.py --dir $(MLFLOW_TESTS_DIR) $(MLFLOW_TESTS_ARGS)

# modelscan pins rich<15 (the lock has rich 15 for keras), so it gets a venv of its own; picklescan
# and fickling are in requirements-dev.
MODELSCAN_VENV = .venv-modelscan
$(MODELSCAN_VENV)/bin/modelscan: | venv
	$(UV) venv -q -p $(PY) $(MODELSCAN_VENV)
	$(UV) pip install -q -p $(MODELSCAN_VENV)/bin/python modelscan==0.8.8 numpy==$$($(PY) -c "import numpy; print(numpy.__version__)")
SCANNER_ARGS ?=
bench-scanners: build $(MODELSCAN_VENV)/bin/modelscan ## fastpyfunc.scan vs picklescan, modelscan and fickling: attacks caught, false refusals
	$(PY) benches/scanner_compare.py --modelscan $(MODELSCAN_VENV)/bin/modelscan $(SCANNER_ARGS)

# cargo-fuzz targets (fuzz/): one per parser of untrusted bytes. Each runs FUZZ_SECONDS (or
# FUZZ_LIMIT, e.g. FUZZ_LIMIT=-runs=10000000) from the seeds in fuzz/corpus/<target>, growing a
# working corpus in fuzz/target/corpus/<target>; inputs that once crashed a target live in
# fuzz/regressions/<target>/ and are replayed first.
FUZZ_SECONDS ?= 60
FUZZ_LIMIT ?= -max_total_time=$(FUZZ_SECONDS)
FUZZ_TARGETS = verify_pickle mlmodel_yaml signature_json savedmodel_signature torchscript_signature torchscript_archive torchscript_code onnx_external_data arrow_input
fuzz: ## run every fuzz target for FUZZ_SECONDS (installs nightly and cargo-fuzz if missing)
	rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  if [ -d regressions/$$t ]; then cargo +nightly fuzz run $$t regressions/$$t -- -runs=0 || exit 1; fi; \
	  mkdir -p target/corpus/$$t; \
	  cargo +nightly fuzz run $$t target/corpus/$$t corpus/$$t -- $(FUZZ_LIMIT) -print_final_stats=1 2>&1 \
	    | grep -E "stat::number_of_executed_units|ERROR|panicked" ; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

lock: venv ## re-pin requirements-dev.txt from requirements-dev.in
	$(UV) pip compile -q requirements-dev.in -p $(PY) -o requirements-dev.txt

clean: ## remove build outputs and .venv
	rm -rf target $(VENV) $(MODELSCAN_VENV)
