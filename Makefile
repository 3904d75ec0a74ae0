# Front door. Every target first makes sure the Debian packages are present.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
# CI (CI=true) builds with -Werror: a warning there fails the run.
ifeq ($(CI),true)
CMAKE_FLAGS += -DMEMSTRAT_WERROR=ON
endif

.PHONY: all setup setup-torch setup-test build test test-asan fuzz lint bench charts clean

all: build

setup:
	@scripts/setup.sh $(if $(filter torch,$(PRESET)),--torch)

# Also Debian's PyTorch (python3-torch), for workloads/torch_train.py and its test.
setup-torch:
	@scripts/setup.sh --torch

$(BUILD)/CMakeCache.txt: | setup
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: setup $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# The tests use every optional dependency: PyTorch (scripts.torch), headless
# Chromium (scripts.browser, the HTML report) and Open MPI (run --ranks); they are
# installed first, before the build is configured.
setup-test:
	@scripts/setup.sh --torch --browser --mpi

test: setup-test build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The whole test suite under AddressSanitizer (leaks included) and
# UndefinedBehaviorSanitizer, in its own build directory: the first report
# stops the process that made it, with its stack, and fails the test.
ASAN_BUILD ?= build-asan
ASAN_OPTIONS_TEST ?= detect_leaks=1:halt_on_error=1:strict_string_checks=1:check_initialization_order=1
UBSAN_OPTIONS_TEST ?= halt_on_error=1:print_stacktrace=1
test-asan: setup-test
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Release -DMEMSTRAT_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target memstrat-tests
	cd $(ASAN_BUILD) && ASAN_OPTIONS=$(ASAN_OPTIONS_TEST) UBSAN_OPTIONS=$(UBSAN_OPTIONS_TEST) \
	  ctest --output-on-failure -j $(JOBS)

# libFuzzer on the readers of suite configurations, results files and traces
# (clang-14, into build-fuzz): FUZZ_SECONDS each (default 60); a crash fails.
fuzz: setup
	scripts/fuzz

# clang-format and clang-tidy with the committed .clang-format and .clang-tidy.
lint: setup
	scripts/lint

clean:
	rm -rf $(BUILD)

# The default suite, 3 repeats (8 min 46 s here from a clean clone, build included):
# results/<host>-<date>.json,
# then every chart and results/REPORT.md. PRESET=quick for a one-minute taste;
# PRESET=torch for PyTorch beside the kernel (installs python3-torch first). Builds
# only the memstrat binary: the tests are `make test`'s.
PRESET ?= default
bench: setup $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) --target memstrat
	$(BUILD)/memstrat suite --preset $(PRESET)
	$(MAKE) --no-print-directory charts

# Regenerates every chart and results/REPORT.md from the results in results/.
# The newest suite over MPI ranks (results/configs/ranks.toml) gets its own chart set,
# with the newest `fit --ranks` (results/fit-ranks-*.json) as its fit chart, and its
# report results/RANKS.md.
RANKS_RESULTS ?= $(lastword $(sort $(wildcard results/suites/ranks-*.json)))
RANKS_FIT ?= $(lastword $(sort $(wildcard results/fit-ranks-*.json)))
charts: setup
	scripts/plot
	scripts/report
	$(if $(RANKS_RESULTS),scripts/plot $(RANKS_RESULTS) $(if $(RANKS_FIT),--fit $(RANKS_FIT)) --out results/charts/ranks)
	$(if $(RANKS_RESULTS),scripts/report $(RANKS_RESULTS) $(if $(RANKS_FIT),--fit $(RANKS_FIT)) \
	  --charts results/charts/ranks --out results/RANKS.md --no-html)
