# Hoist: thin wrapper over CMake. `make demo` and `make check` set the
# machine up first (scripts/setup), so both work on a fresh Debian 12.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?= --output-on-failure

SOURCES = $(wildcard common/*.[ch] agent/*.[ch] cli/*.[ch] controller/*.[ch] \
                    tests/*.[ch] bench/*.[ch])

.PHONY: all build setup check check-asan demo format format-check bench clean

all: build

setup:
	@scripts/setup

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

check: setup format-check build
	cd $(BUILD) && ctest $(CTEST_ARGS) -j $(JOBS)

# The same unit tests under AddressSanitizer and UndefinedBehaviorSanitizer.
check-asan: setup
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DHOIST_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ctest $(CTEST_ARGS) -j $(JOBS)

demo: setup build
	deploy/demo.sh $(BUILD)

format:
	clang-format -i $(SOURCES)

format-check:
	@clang-format --dry-run -Werror $(SOURCES) && echo "format: ok"

bench: build
	cmake --build $(BUILD) -j $(JOBS) --target $(notdir $(basename $(wildcard bench/bench_*.c)))
	@for b in $(notdir $(basename $(wildcard bench/bench_*.c))); do $(BUILD)/$$b || exit 1; done

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
