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

# The default suite (about 10 minutes on 2 cores): results/<host>-<date>.json,
# then every chart and results/REPORT.md. PRESET=quick for a one-minute taste.
PRESET ?= default
bench: build
	$(BUILD)/memstrat suite --preset $(PRESET)
	$(MAKE) --no-print-directory charts

# Regenerates every chart and results/REPORT.md from the results in results/.
charts: setup
	scripts/plot
	scripts/report
