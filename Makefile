# Atrium build. `make` builds ./atrium; see README.md for the other targets.
CC      ?= cc
PKGS    := libuv jansson libsodium sqlite3 nettle lua5.4
# CFLAGS is yours to set (make CFLAGS=-O0); what the build needs is apart.
CFLAGS  ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -Isrc $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
BASE_CFLAGS := -std=c11 -Wall -Wextra -Werror -pthread
ALL_CFLAGS = $(CPPFLAGS) $(BASE_CFLAGS) $(CFLAGS)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhttp_parser -lwslay -lm -pthread

SRC     := $(wildcard src/util/*.c src/graphql/*.c src/store/*.c src/core/*.c src/net/*.c src/api/*.c src/api/*/*.c)
LIBOBJ  := $(SRC:src/%.c=build/%.o)
ASANOBJ := $(SRC:src/%.c=build/asan/%.o)
UNIT    := $(wildcard tests/unit/test_*.c)
UNITBIN := $(UNIT:tests/unit/%.c=build/tests/%)
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -DATRIUM_THREAD_CHECKS
TSANOBJ := $(SRC:src/%.c=build/tsan/%.o)
TSAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer -DATRIUM_THREAD_CHECKS
# libFuzzer (clang): every library object instrumented, one binary per target.
FUZZ_CC := clang
FUZZOBJ := $(SRC:src/%.c=build/fuzz/%.o)
FUZZ_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1
FUZZ_TARGETS := http table url json subs ws bsatn graphql multipart csv sqllift
FUZZ_RUNS ?= 3000

# Debian packages the build, tests and benchmarks need (chromium: the console's browser tests).
DEB_PKGS := build-essential pkg-config clang libclang-rt-14-dev libuv1-dev libhttp-parser-dev libwslay-dev \
            libjansson-dev libsodium-dev nettle-dev liblua5.4-dev libsqlite3-dev libcmocka-dev \
            python3-pytest python3-requests python3-websockets wrk nginx-light chromium
PYTHON  := /usr/bin/python3
PYTEST  := $(PYTHON) -m pytest

.PHONY: all deps run test unit apitest e2e e2e-deps console-editor console-editor-check asan tsan fuzz bench clean
all: atrium

deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@# the SDK scenarios (tests/e2e) need Node.js ≥ 18 and npm; Debian's if the machine has none
	@command -v npm >/dev/null 2>&1 || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "make deps: installing nodejs npm"; $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; }

build/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

build/asan/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -O1 $(ASAN_FLAGS) -MMD -MP -c $< -o $@

build/tsan/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -O1 $(TSAN_FLAGS) -MMD -MP -c $< -o $@

build/fuzz/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(ALL_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

# The browser console (console/), compiled in as data: one object shared by
# every flavour of the library (it holds no code to instrument).
CONSOLE_FILES := $(sort $(wildcard console/*.html console/*.js console/*.css))
build/console_assets.c: $(CONSOLE_FILES) tools/embed_console.py
	@mkdir -p build
	$(PYTHON) tools/embed_console.py $@ $(CONSOLE_FILES)

build/console_assets.o: build/console_assets.c src/api/console/assets.h
	$(CC) $(ALL_CFLAGS) -c $< -o $@

build/libatrium-tsan.a: $(filter-out build/tsan/main.o,$(TSANOBJ)) build/console_assets.o
	@rm -f $@
	ar rcs $@ $^

build/libatrium-fuzz.a: $(filter-out build/fuzz/main.o,$(FUZZOBJ)) build/console_assets.o
	@rm -f $@
	ar rcs $@ $^

build/fuzz/fuzz_%: fuzz/fuzz_%.c fuzz/harness.c fuzz/harness.h build/libatrium-fuzz.a
	$(FUZZ_CC) $(ALL_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< fuzz/harness.c build/libatrium-fuzz.a $(LDLIBS)

build/libatrium.a: $(filter-out build/main.o,$(LIBOBJ)) build/console_assets.o
	@rm -f $@
	ar rcs $@ $^

build/libatrium-asan.a: $(filter-out build/asan/main.o,$(ASANOBJ)) build/console_assets.o
	@rm -f $@
	ar rcs $@ $^

atrium: build/main.o build/libatrium.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

atrium-tsan: build/tsan/main.o build/libatrium-tsan.a
	$(CC) $(ALL_CFLAGS) $(TSAN_FLAGS) -o $@ $^ $(LDLIBS)

atrium-asan: build/asan/main.o build/libatrium-asan.a
	$(CC) $(ALL_CFLAGS) $(ASAN_FLAGS) -o $@ $^ $(LDLIBS)

build/main.o: src/main.c
	@mkdir -p build
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

build/tsan/main.o: src/main.c
	@mkdir -p build/tsan
	$(CC) $(ALL_CFLAGS) -O1 $(TSAN_FLAGS) -MMD -MP -c $< -o $@

build/asan/main.o: src/main.c
	@mkdir -p build/asan
	$(CC) $(ALL_CFLAGS) -O1 $(ASAN_FLAGS) -MMD -MP -c $< -o $@

build/tests/%: tests/unit/%.c build/libatrium.a
	@mkdir -p build/tests
	$(CC) $(ALL_CFLAGS) -o $@ $< build/libatrium.a $(LDLIBS) -lcmocka

build/tsan/tests/%: tests/unit/%.c build/libatrium-tsan.a
	@mkdir -p build/tsan/tests
	$(CC) $(ALL_CFLAGS) $(TSAN_FLAGS) -o $@ $< build/libatrium-tsan.a $(LDLIBS) -lcmocka

build/asan/tests/%: tests/unit/%.c build/libatrium-asan.a
	@mkdir -p build/asan/tests
	$(CC) $(ALL_CFLAGS) $(ASAN_FLAGS) -o $@ $< build/libatrium-asan.a $(LDLIBS) -lcmocka

unit: $(UNITBIN)
	@set -e; for t in $(UNITBIN); do $$t; done

apitest: atrium
	ATRIUM_BIN=$(CURDIR)/atrium $(PYTEST) -q tests/api

# The console's SQL editor (CodeMirror 6) is committed prebuilt as
# console/editor.js; this rebuilds it from console/editor's lock file, and
# the check (part of make e2e) fails if the committed file is not exactly
# what the lock builds.
console-editor:
	@cd console/editor && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build
console-editor-check:
	@mkdir -p build && cp console/editor.js build/editor.committed.js
	@$(MAKE) --no-print-directory console-editor
	@cmp -s console/editor.js build/editor.committed.js || { cp build/editor.committed.js console/editor.js; \
	  echo "console/editor.js is not what console/editor's lock file builds (make console-editor)"; exit 1; }
	@echo "console/editor.js: rebuilt byte for byte from console/editor/package-lock.json"

# The real SpacetimeDB SDKs (npm, versions pinned by tests/e2e/package-lock.json).
E2E_BIN ?= $(CURDIR)/atrium
e2e-deps:
	@cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error
e2e: atrium e2e-deps console-editor-check
	cd tests/e2e && ATRIUM_BIN=$(E2E_BIN) node --test --test-concurrency=1 --test-reporter=spec

# `make test`: what CI runs. Ends with pytest's summary line.
test: deps
	@$(MAKE) --no-print-directory atrium unit
	@$(MAKE) --no-print-directory e2e
	@$(MAKE) --no-print-directory apitest

# Sanitizer build: the unit tests and the whole API suite against ./atrium-asan.
asan: deps
	@$(MAKE) --no-print-directory atrium-asan $(UNIT:tests/unit/%.c=build/asan/tests/%)
	@set -e; for t in $(UNIT:tests/unit/%.c=build/asan/tests/%); do $$t; done
	@$(MAKE) --no-print-directory e2e-deps
	cd tests/e2e && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 ATRIUM_BIN=$(CURDIR)/atrium-asan ATRIUM_SANITIZED=1 \
	  node --test --test-concurrency=1 --test-reporter=spec
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ATRIUM_BIN=$(CURDIR)/atrium-asan ATRIUM_SANITIZED=1 $(PYTEST) -q tests/api

# ThreadSanitizer build: the unit tests and the whole API suite against ./atrium-tsan.
tsan: deps
	@$(MAKE) --no-print-directory atrium-tsan $(UNIT:tests/unit/%.c=build/tsan/tests/%)
	@set -e; for t in $(UNIT:tests/unit/%.c=build/tsan/tests/%); do TSAN_OPTIONS=halt_on_error=1 $$t; done
	@$(MAKE) --no-print-directory e2e-deps
	cd tests/e2e && TSAN_OPTIONS=halt_on_error=1 ATRIUM_BIN=$(CURDIR)/atrium-tsan ATRIUM_SANITIZED=1 \
	  node --test --test-concurrency=1 --test-reporter=spec
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  ATRIUM_BIN=$(CURDIR)/atrium-tsan ATRIUM_SANITIZED=1 $(PYTEST) -q tests/api

# libFuzzer targets (fuzz/), each run for FUZZ_RUNS inputs from its seed
# corpus (fuzz/corpus/NAME, read-only; new inputs go to build/fuzz/corpus).
# Longer hunts: make fuzz FUZZ_RUNS=1000000.
fuzz: deps
	@$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p build/fuzz/corpus/$$t; \
	  echo "fuzz_$$t: $(FUZZ_RUNS) runs"; \
	  rc=0; ASAN_OPTIONS=detect_leaks=0 build/fuzz/fuzz_$$t -runs=$(FUZZ_RUNS) -timeout=20 -max_len=8192 \
	    -print_final_stats=1 -artifact_prefix=build/fuzz/ build/fuzz/corpus/$$t fuzz/corpus/$$t > build/fuzz/$$t.log 2>&1 || rc=$$?; \
	  grep -E "^(stat::number_of_executed_units|Done|SUMMARY)|ERROR: " build/fuzz/$$t.log || true; \
	  if [ $$rc -ne 0 ]; then tail -60 build/fuzz/$$t.log; exit $$rc; fi; \
	done

run: deps
	@$(MAKE) --no-print-directory atrium
	@[ -f demo.db ] || ./atrium demo demo.db
	./atrium serve demo.db --data ./atrium-data --host 127.0.0.1 --port 8000

build/bench/engine_point: bench/engine_point.c
	@mkdir -p build/bench
	$(CC) -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o $@ $< -lsqlite3

build/bench/fanout: bench/fanout.c
	@mkdir -p build/bench
	$(CC) -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -pthread -o $@ $<

bench: deps
	@$(MAKE) --no-print-directory atrium build/bench/engine_point build/bench/fanout
	$(PYTHON) bench/run.py
	$(PYTHON) bench/stdb.py

clean:
	rm -rf build atrium atrium-asan atrium-tsan

-include $(LIBOBJ:.o=.d) $(ASANOBJ:.o=.d) $(TSANOBJ:.o=.d) $(FUZZOBJ:.o=.d) build/main.d build/asan/main.d
