# Thin wrapper over CMake. `make run` is the main job on the default model,
# `make test` builds and runs the tests (fetching the model first).
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)

.PHONY: all build run test test-asan clean

all: build

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# The main job: the first MT-Bench turns as one endless conversation on the
# default model (greedy), each reply streamed, statistics per round.
ROUNDS ?= 8
run: build
	@scripts/fetch-model.sh >/dev/null
	$(BUILD)/bin/swiftinfer run --input data/mt_bench.jsonl --only-n-first $(ROUNDS) --max-new-tokens 256

test: build
	@scripts/fetch-model.sh >/dev/null
	@ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-asan:
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSI_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@scripts/fetch-model.sh >/dev/null
	@SI_TEST_QUICK=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
