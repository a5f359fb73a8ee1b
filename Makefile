# Atrium build. `make` builds ./atrium; see README.md for the other targets.
CC      ?= cc
PKGS    := libuv jansson libsodium sqlite3
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -pthread -Isrc \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhttp_parser -lm -pthread

SRC     := $(wildcard src/util/*.c src/store/*.c src/core/*.c src/net/*.c src/api/*.c)
LIBOBJ  := $(SRC:src/%.c=build/%.o)
ASANOBJ := $(SRC:src/%.c=build/asan/%.o)
UNIT    := $(wildcard tests/unit/test_*.c)
UNITBIN := $(UNIT:tests/unit/%.c=build/tests/%)
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# Debian packages the build, tests and benchmarks need.
DEB_PKGS := build-essential pkg-config libuv1-dev libhttp-parser-dev libwslay-dev \
            libjansson-dev libsodium-dev liblua5.4-dev libsqlite3-dev libcmocka-dev \
            python3-pytest python3-requests python3-websockets wrk nginx-light
PYTHON  := /usr/bin/python3
PYTEST  := $(PYTHON) -m pytest

.PHONY: all deps run test unit apitest asan bench clean
all: atrium

deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

build/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

build/asan/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -O1 $(ASAN_FLAGS) -MMD -MP -c $< -o $@

build/libatrium.a: $(filter-out build/main.o,$(LIBOBJ))
	@rm -f $@
	ar rcs $@ $^

build/libatrium-asan.a: $(filter-out build/asan/main.o,$(ASANOBJ))
	@rm -f $@
	ar rcs $@ $^

atrium: build/main.o build/libatrium.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

atrium-asan: build/asan/main.o build/libatrium-asan.a
	$(CC) $(CFLAGS) $(ASAN_FLAGS) -o $@ $^ $(LDLIBS)

build/main.o: src/main.c
	@mkdir -p build
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

build/asan/main.o: src/main.c
	@mkdir -p build/asan
	$(CC) $(CFLAGS) -O1 $(ASAN_FLAGS) -MMD -MP -c $< -o $@

build/tests/%: tests/unit/%.c build/libatrium.a
	@mkdir -p build/tests
	$(CC) $(CFLAGS) -o $@ $< build/libatrium.a $(LDLIBS) -lcmocka

build/asan/tests/%: tests/unit/%.c build/libatrium-asan.a
	@mkdir -p build/asan/tests
	$(CC) $(CFLAGS) $(ASAN_FLAGS) -o $@ $< build/libatrium-asan.a $(LDLIBS) -lcmocka

unit: $(UNITBIN)
	@set -e; for t in $(UNITBIN); do $$t; done

apitest: atrium
	ATRIUM_BIN=$(CURDIR)/atrium $(PYTEST) -q tests/api

# `make test`: what CI runs. Ends with pytest's summary line.
test: deps
	@$(MAKE) --no-print-directory atrium unit
	@$(MAKE) --no-print-directory apitest

# Sanitizer build: the unit tests and the whole API suite against ./atrium-asan.
asan: deps
	@$(MAKE) --no-print-directory atrium-asan $(UNIT:tests/unit/%.c=build/asan/tests/%)
	@set -e; for t in $(UNIT:tests/unit/%.c=build/asan/tests/%); do $$t; done
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ATRIUM_BIN=$(CURDIR)/atrium-asan ATRIUM_SANITIZED=1 $(PYTEST) -q tests/api

run: deps
	@$(MAKE) --no-print-directory atrium
	@[ -f demo.db ] || ./atrium demo demo.db
	./atrium serve demo.db --data ./atrium-data --host 127.0.0.1 --port 8000

build/bench/engine_point: bench/engine_point.c
	@mkdir -p build/bench
	$(CC) -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o $@ $< -lsqlite3

bench: deps
	@$(MAKE) --no-print-directory atrium build/bench/engine_point
	$(PYTHON) bench/run.py

clean:
	rm -rf build atrium atrium-asan

-include $(LIBOBJ:.o=.d) $(ASANOBJ:.o=.d) build/main.d build/asan/main.d
