# Hoist: thin wrapper over CMake. `make demo` and `make check` set the
# machine up first (scripts/setup), so both work on a fresh Debian 12.
BUILD      ?= build
ASAN_BUILD ?= build-asan
PKG_BUILD  ?= build-package
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?= --output-on-failure

SOURCES = $(wildcard common/*.[ch] agent/*.[ch] cli/*.[ch] controller/*.[ch] \
                    tests/*.[ch] bench/*.[ch])

.PHONY: all build setup check check-asan demo package format format-check \
        bench clean

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

# Debian packages hoist-agent, hoist-controller and hoist (CPack, see the
# end of CMakeLists.txt) in their own tree, without the test-only fault
# points; lintian must find no error in them. Not part of `make check`:
# tests/test_package checks the result when HOIST_PACKAGE_DIR names it.
PKG_TARGETS = hoist hoist-agent hoist-controller hoist_package_files
# The hardening flags Debian builds its own packages with. cpack builds
# nothing itself (CMAKE_SKIP_INSTALL_ALL_DEPENDENCY): the tests are not
# in the packages, so they are not built here.
PKG_CFLAGS  = -D_FORTIFY_SOURCE=2 -fstack-protector-strong
PKG_LDFLAGS = -Wl,-z,relro -Wl,-z,now
package: setup
	cmake -S . -B $(PKG_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DHOIST_FAULT_POINTS=OFF "-DCMAKE_C_FLAGS=$(PKG_CFLAGS)" \
	    "-DCMAKE_EXE_LINKER_FLAGS=$(PKG_LDFLAGS)" \
	    -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON
	cmake --build $(PKG_BUILD) -j $(JOBS) --target $(PKG_TARGETS)
	rm -f $(PKG_BUILD)/*.deb $(PKG_BUILD)/*.ddeb
	cd $(PKG_BUILD) && cpack -G DEB
	lintian --fail-on error --info $(PKG_BUILD)/*.deb

format:
	clang-format -i $(SOURCES)

format-check:
	@clang-format --dry-run -Werror $(SOURCES) && echo "format: ok"

bench: build
	cmake --build $(BUILD) -j $(JOBS) --target $(notdir $(basename $(wildcard bench/bench_*.c)))
	@for b in $(notdir $(basename $(wildcard bench/bench_*.c))); do $(BUILD)/$$b || exit 1; done

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(PKG_BUILD)
