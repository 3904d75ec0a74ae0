# Front door. Every target first makes sure the Debian packages are present.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all setup build test bench charts clean

all: build

setup:
	@scripts/setup.sh

$(BUILD)/CMakeCache.txt: | setup
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: setup $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD)

# Until the suite lands, bench runs the micro-benchmarks of the kernel.
bench: build
	$(BUILD)/memstrat-micro --benchmark_filter='gemm/.*/square|conv/'

# Regenerates every chart and results/REPORT.md from the results in results/.
charts: setup
	scripts/plot
	scripts/report
