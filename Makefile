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

run: build
	@scripts/fetch-model.sh >/dev/null
	$(BUILD)/bin/swiftinfer generate --chat --temp 0 --max-new-tokens 96 \
	    --prompt "What are three good habits for writing clear code?"

test: build
	@scripts/fetch-model.sh >/dev/null
	@ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-asan:
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DSI_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@scripts/fetch-model.sh >/dev/null
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
