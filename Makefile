# prdshm: a cross-process lock service over POSIX shared memory.
#
#   make            build the library and the tools
#   make check      build and run every test (installs missing Debian packages)
#   make run        build, then execute the plan in prdpar.yaml
#   make asan|ubsan|tsan|valgrind   rerun the tests under a checker
#   make bench | fuzz | torture | torture-long | coverage
#   make bench-compare OLD=a.json NEW=b.json   two bench runs, case by case
#   make python     build the Python binding into build/python (PYTHONPATH)
#   make install [PREFIX=/usr/local] [DESTDIR=...]
#
# V=1 prints the full commands.  Builds go to $(BUILD) (default: build/).

# One source of truth, as zstd does: the PRDSHM_VERSION_* macros of the
# installed header.  The library and the tools get them with -D, and
# lib/base/abi.c refuses to compile when they disagree with the header.
header_version = $(shell sed -n 's/^\#define PRDSHM_VERSION_$(1) *\([0-9][0-9]*\).*/\1/p' lib/prdshm.h)
VERSION_MAJOR := $(call header_version,MAJOR)
VERSION_MINOR := $(call header_version,MINOR)
VERSION_PATCH := $(call header_version,PATCH)
VERSION       := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)
VERSION_FLAGS := -DPRDSHM_BUILD_VERSION_MAJOR=$(VERSION_MAJOR) \
                 -DPRDSHM_BUILD_VERSION_MINOR=$(VERSION_MINOR) \
                 -DPRDSHM_BUILD_VERSION_PATCH=$(VERSION_PATCH) \
                 -DPRDSHM_VERSION_STRING='"$(VERSION)"'
SONAME        := libprdshm.so.$(VERSION_MAJOR)

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR    ?=

BUILD ?= build
CC    ?= cc

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wformat=2 -Wpointer-arith -Wcast-qual -Wwrite-strings -Wvla \
        -Wno-unused-parameter
ifeq ($(CI),true)
WARN += -Werror
endif
OPT      ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -Ilib
CFLAGS   += -std=c11 $(OPT) $(WARN) -fPIC -pthread $(SANITIZE)
LDFLAGS  += -pthread $(SANITIZE)
LDLIBS   += -lyaml -lrt

ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_SRC   := $(sort $(wildcard lib/*/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
# The test build of the library compiles in the crash hooks (PRDSHM_TEST_HOOKS).
LIBT_OBJ  := $(LIB_SRC:%.c=$(BUILD)/hooks/%.o)
TOOL_MAINS:= $(sort $(wildcard tools/prdshm-*.c))
TOOL_COMMON_SRC := $(filter-out $(TOOL_MAINS),$(sort $(wildcard tools/*.c)))
TOOL_COMMON_OBJ := $(TOOL_COMMON_SRC:%.c=$(BUILD)/%.o)
TOOLS     := $(TOOL_MAINS:tools/%.c=$(BUILD)/bin/%)
TEST_MAINS:= $(sort $(wildcard tests/test_*.c))
TEST_COMMON_SRC := $(filter-out $(TEST_MAINS),$(sort $(wildcard tests/*.c)))
TEST_COMMON_OBJ := $(TEST_COMMON_SRC:%.c=$(BUILD)/%.o)
TESTS     := $(TEST_MAINS:tests/%.c=$(BUILD)/tests/%)
HEADERS   := $(wildcard lib/*.h lib/*/*.h tools/*.h tests/*.h)

STATIC := $(BUILD)/libprdshm.a
SHARED := $(BUILD)/$(SONAME)
STATIC_T := $(BUILD)/libprdshm-hooks.a
# Two builds whose segments the real build must refuse (tests/cli/layout.sh):
# one with two fields of a shared struct swapped (PRDSHM_TEST_LAYOUT_SWAP),
# one with another C library tag, as a musl build has (only segment.c uses it).
SWAP_OBJ  := $(LIB_SRC:%.c=$(BUILD)/layout-swap/%.o)
LIBC_OBJ  := $(filter-out $(BUILD)/lib/shm/segment.o,$(LIB_OBJ)) $(BUILD)/libc-other/lib/shm/segment.o
VARIANT_TOOLS := $(foreach v,layout-swap libc-other,$(BUILD)/$(v)/bin/prdshm-create \
                   $(BUILD)/$(v)/bin/prdshm-inspect)
DEPS_STAMP := $(BUILD)/.deps-ok

.SECONDARY:

.PHONY: all lib tools check unit cli deps install uninstall clean run \
        asan ubsan tsan valgrind bench fuzz torture torture-long coverage format \
        python python-deps bench-python bench-deps bench-compare

all: lib tools

# --- dependencies --------------------------------------------------------
# A fresh Debian machine lacks some -dev packages; install them (root or
# passwordless sudo) or stop with the exact command to run.
DEB_PKGS := libyaml-dev libcunit1-dev libjansson-dev libzookeeper-mt-dev zookeeper
# Programs the tests drive: tmux shows the live view as a person sees it
# (tests/cli/view.sh).
DEB_CMDS := tmux:tmux
# The end of a recipe that collected Debian package names in $$missing:
# install them, or stop with the exact command to run.
APT_INSTALL_MISSING = if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; \
	  elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	  else echo "prdshm: missing packages:$$missing"; \
	       echo "run: sudo apt-get update && sudo apt-get install -y$$missing"; exit 1; fi; \
	  echo "prdshm: installing$$missing"; \
	  $$SUDO apt-get update -qq >/dev/null && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null || \
	  { echo "prdshm: apt-get install$$missing failed"; exit 1; }; \
	fi
deps: $(DEPS_STAMP)
$(DEPS_STAMP):
	$(Q)mkdir -p $(BUILD)
	$(Q)missing=""; \
	for h in yaml.h:libyaml-dev CUnit/CUnit.h:libcunit1-dev jansson.h:libjansson-dev \
	         zookeeper/zookeeper.h:libzookeeper-mt-dev; do \
	  printf '#include <%s>\n' "$${h%%:*}" | $(CC) -E -x c - >/dev/null 2>&1 || missing="$$missing $${h##*:}"; \
	done; \
	for c in $(DEB_CMDS); do \
	  command -v "$${c%%:*}" >/dev/null 2>&1 || missing="$$missing $${c##*:}"; \
	done; \
	[ -r /usr/share/java/zookeeper.jar ] || missing="$$missing zookeeper"; \
	$(APT_INSTALL_MISSING)
	$(Q)touch $@

# The ZooKeeper backend (lib/zk/) needs the C client's header: with it the
# library links -lzookeeper_mt, without it the backend is built as a stub
# that refuses with PRDSHM_ENOTSUP.  Decided once the packages are in: make
# remakes this included file first (after $(DEPS_STAMP)), then reads it
# again.  HAVE_ZK=0 on the command line builds without it.
ZK_MK := $(BUILD)/zk.mk
ifeq ($(filter clean format,$(MAKECMDGOALS)),)
-include $(ZK_MK)
endif
$(ZK_MK): $(DEPS_STAMP)
	$(Q)if printf '#include <zookeeper/zookeeper.h>\n' | $(CC) -E -x c - >/dev/null 2>&1; \
	  then echo 'HAVE_ZK ?= 1' >$@; else echo 'HAVE_ZK ?= 0' >$@; fi
ifeq ($(HAVE_ZK),1)
CPPFLAGS += -DPRDSHM_HAVE_ZOOKEEPER
LDLIBS   += -lzookeeper_mt
PY_EXTRA_LIBS := zookeeper_mt
endif
$(filter $(BUILD)/lib/zk/% $(BUILD)/hooks/lib/zk/% %/zk_backend.o,$(LIB_OBJ) $(LIBT_OBJ)): $(ZK_MK)

# The Python binding's Debian packages, for /usr/bin/python3 (a python3
# earlier on PATH, pyenv's say, would not see them).  filelock is only for
# the benchmark's comparison, setuptools for `pip install ./python`,
# prometheus_client for make check's parse of prdshm-inspect --metrics.
PYTHON ?= /usr/bin/python3
PY_DEPS_STAMP := $(BUILD)/.py-deps-ok
PY_PKGS := cffi:python3-cffi pytest:python3-pytest filelock:python3-filelock \
           setuptools:python3-setuptools prometheus_client:python3-prometheus-client
python-deps: $(PY_DEPS_STAMP)
$(PY_DEPS_STAMP):
	$(Q)mkdir -p $(BUILD)
	$(Q)missing=""; \
	for m in $(PY_PKGS); do \
	  $(PYTHON) -c "import $${m%%:*}" 2>/dev/null || missing="$$missing $${m##*:}"; \
	done; \
	$(PYTHON) -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
	  2>/dev/null || missing="$$missing python3-dev"; \
	$(APT_INSTALL_MISSING)
	$(Q)touch $@

# --- library ---------------------------------------------------------------
lib: $(STATIC) $(SHARED) $(BUILD)/prdshm.pc

$(BUILD)/%.o: %.c $(HEADERS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(VERSION_FLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/hooks/%.o: %.c $(HEADERS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $< (hooks)")
	$(Q)$(CC) $(CPPFLAGS) -DPRDSHM_TEST_HOOKS $(VERSION_FLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/layout-swap/%.o: %.c $(HEADERS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $< (layout swap)")
	$(Q)$(CC) $(CPPFLAGS) -DPRDSHM_TEST_LAYOUT_SWAP -DPRDSHM_VERSION_STRING='"$(VERSION)"' $(CFLAGS) -c -o $@ $<

$(BUILD)/libc-other/%.o: %.c $(HEADERS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $< (other libc tag)")
	$(Q)$(CC) $(CPPFLAGS) -DPRDSHM_LIBC_TAG='"test-other-libc"' -DPRDSHM_VERSION_STRING='"$(VERSION)"' $(CFLAGS) -c -o $@ $<

$(STATIC): $(LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(STATIC_T): $(LIBT_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(SHARED): $(LIB_OBJ) lib/prdshm.map
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script=lib/prdshm.map $(LDFLAGS) \
	  -o $@ $(LIB_OBJ) $(LDLIBS)
	$(Q)ln -sf $(SONAME) $(BUILD)/libprdshm.so

# The .pc names the install directories: it is remade when they change
# (make install PREFIX=/a, then PREFIX=/b), through a file that holds them
# and is rewritten only when they differ.
PC_DIRS := $(PREFIX) $(LIBDIR) $(INCLUDEDIR) $(VERSION)
$(BUILD)/.pc-dirs: FORCE
	@mkdir -p $(dir $@)
	$(Q)echo '$(PC_DIRS)' | cmp -s - $@ || echo '$(PC_DIRS)' >$@
.PHONY: FORCE
FORCE:

$(BUILD)/prdshm.pc: lib/prdshm.pc.in Makefile $(BUILD)/.pc-dirs
	@mkdir -p $(dir $@)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	  -e 's|@LIBS_ZK@|$(if $(filter 1,$(HAVE_ZK)),-lzookeeper_mt )|' \
	  -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

# --- Python binding (python/) ----------------------------------------------
# cffi in API mode: the extension is compiled against lib/prdshm.h and links
# the static library in, so build/python needs no LD_LIBRARY_PATH.  Not for
# sanitizer or coverage builds (the interpreter would need their runtime).
PY_SRC   := $(sort $(wildcard python/prdshm/*.py))
PY_BUILD := $(BUILD)/python
PY_STAMP := $(PY_BUILD)/.built
PY_CHECK := $(if $(SANITIZE)$(TEST_WRAP),,$(PY_STAMP))
python: $(PY_STAMP)
$(PY_STAMP): python/prdshm_build.py $(PY_SRC) $(STATIC) lib/prdshm.h | $(PY_DEPS_STAMP)
	@mkdir -p $(PY_BUILD)/prdshm
	@$(if $(Q),echo "  CFFI    $(PY_BUILD)/prdshm")
	$(Q)PRDSHM_INCLUDE=lib PRDSHM_STATIC=$(STATIC) PRDSHM_EXTRA_LIBS="$(PY_EXTRA_LIBS)" $(PYTHON) python/prdshm_build.py $(PY_BUILD) >/dev/null
	$(Q)cp $(PY_SRC) $(PY_BUILD)/prdshm/
	$(Q)touch $@

# --- tools -----------------------------------------------------------------
tools: $(TOOLS)

$(BUILD)/bin/%: $(BUILD)/tools/%.o $(TOOL_COMMON_OBJ) $(STATIC)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -ljansson $(LDLIBS)

$(BUILD)/layout-swap/bin/%: $(BUILD)/tools/%.o $(TOOL_COMMON_OBJ) $(SWAP_OBJ)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -ljansson $(LDLIBS)
$(BUILD)/libc-other/bin/%: $(BUILD)/tools/%.o $(TOOL_COMMON_OBJ) $(LIBC_OBJ)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -ljansson $(LDLIBS)

# --- tests -----------------------------------------------------------------
$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TEST_COMMON_OBJ) $(STATIC_T)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -lcunit -ljansson $(LDLIBS)

# TEST_WRAP runs each test program under a checker (valgrind).  run.sh also
# runs a bounded crash torture (TORTURE_CHECK_ARGS) and counts it as a test.
TORTURE_CHECK_ARGS ?= --seconds 40
check: all $(TESTS) $(BUILD)/prdshm-torture $(VARIANT_TOOLS) $(PY_CHECK)
	$(Q)BUILD=$(BUILD) TEST_WRAP="$(TEST_WRAP)" CLI_WRAP="$(CLI_WRAP)" TEST_FILTER="$(TEST_FILTER)" \
	  TORTURE_BIN=$(BUILD)/prdshm-torture PYTHON=$(if $(PY_CHECK),$(PYTHON)) \
	  TORTURE_ARGS="$(TORTURE_CHECK_ARGS) --inspect $(BUILD)/bin/prdshm-inspect" \
	  bash tests/run.sh $(TESTS)

unit: $(TESTS)
	$(Q)BUILD=$(BUILD) TEST_WRAP="$(TEST_WRAP)" bash tests/run.sh --unit-only $(TESTS)

asan:
	$(MAKE) check BUILD=build-asan SANITIZE="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
ubsan:
	$(MAKE) check BUILD=build-ubsan SANITIZE="-fsanitize=undefined -fno-sanitize-recover=undefined"
# TSan runs every test program but those that stop or kill a process inside
# a critical section and then meet its mutex with a bounded wait: TSan does
# not model a robust mutex handed over with EOWNERDEAD by
# pthread_mutex_timedlock() (docs/reliability.md, "Sanitizers").
TSAN_SKIP  ?= test_reliability
TSAN_TESTS ?= $(filter-out $(TSAN_SKIP),$(TEST_MAINS:tests/%.c=%))
tsan:
	$(MAKE) check BUILD=build-tsan SANITIZE="-fsanitize=thread" TEST_FILTER="$(TSAN_TESTS)"
# Unit programs: any memory error fails; leaks are listed but do not fail,
# because a forked test child inherits parent allocations it cannot reach
# and valgrind counts them as its own.  The tools (CLI_WRAP) also fail on
# definite leaks.
VALGRIND := valgrind -q --error-exitcode=99 --leak-check=full --trace-children=no
valgrind:
	$(MAKE) check BUILD=build-valgrind OPT="-O1 -g" \
	  TEST_WRAP="$(VALGRIND) --errors-for-leak-kinds=none" \
	  CLI_WRAP="$(VALGRIND) --errors-for-leak-kinds=definite"

# --- run the main job ------------------------------------------------------
# prdpar.yaml documents the defaults, wave_delay_seconds (5) included; one
# second between waves keeps the demo plan under 10 s.  An explicit
# PRD_PARALLEL_WAVE_DELAY_SECONDS still wins.
run: all
	PRD_PARALLEL_WAVE_DELAY_SECONDS=$${PRD_PARALLEL_WAVE_DELAY_SECONDS:-1} \
	  $(BUILD)/bin/prdshm-run -c prdpar.yaml

# --- install ---------------------------------------------------------------
# The binding goes to PREFIX's site-packages for $(PYTHON) (Debian's
# /usr/local/lib/python3.X/dist-packages for PREFIX=/usr/local).
PY_SITE = $(shell $(PYTHON) python/sitedir.py $(PREFIX))
install: all python
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	  $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(TOOLS) $(DESTDIR)$(BINDIR)
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libprdshm.so
	install -m 644 lib/prdshm.h $(DESTDIR)$(INCLUDEDIR)
	install -m 644 $(BUILD)/prdshm.pc $(DESTDIR)$(PKGCONFIGDIR)
	$(if $(wildcard docs/man/*.1),install -m 644 $(wildcard docs/man/*.1) $(DESTDIR)$(MANDIR)/man1)
	install -d $(DESTDIR)$(PY_SITE)/prdshm
	install -m 644 $(PY_BUILD)/prdshm/*.py $(DESTDIR)$(PY_SITE)/prdshm
	install -m 755 $(PY_BUILD)/prdshm/_prdshm*.so $(DESTDIR)$(PY_SITE)/prdshm

uninstall:
	rm -f $(TOOLS:$(BUILD)/bin/%=$(DESTDIR)$(BINDIR)/%)
	rm -f $(DESTDIR)$(LIBDIR)/libprdshm.a $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libprdshm.so
	rm -f $(DESTDIR)$(INCLUDEDIR)/prdshm.h $(DESTDIR)$(PKGCONFIGDIR)/prdshm.pc
	rm -f $(patsubst docs/man/%,$(DESTDIR)$(MANDIR)/man1/%,$(wildcard docs/man/*.1))
	rm -rf $(DESTDIR)$(PY_SITE)/prdshm

clean:
	rm -rf build build-asan build-ubsan build-tsan build-valgrind build-cov build-fuzz

format:
	clang-format -i lib/*.h lib/*/*.c lib/*/*.h tools/*.c tools/*.h tests/*.c tests/*.h

# --- benchmark, torture, fuzzing, coverage ---------------------------------
BENCH_SRC   := $(sort $(wildcard tests/bench/*.c))
TORTURE_SRC := $(sort $(wildcard tests/torture/*.c))
FUZZ_SRC    := $(sort $(wildcard tests/fuzz/fuzz_*.c))
BENCH_ARGS  ?=
TORTURE_KILLS ?= 2000

# The bench's own headers are not in HEADERS: its objects depend on them here.
$(BENCH_SRC:%.c=$(BUILD)/%.o): $(wildcard tests/bench/*.h)

$(BUILD)/prdshm-bench: $(BENCH_SRC:%.c=$(BUILD)/%.o) $(STATIC)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ -ljansson $(LDLIBS)

# The results as JSON in $(BUILD)/bench.json (a --json in BENCH_ARGS wins),
# drawn with gnuplot into $(BUILD)/bench/ (bench-deps installs gnuplot-nox,
# for the bench only; without it the plots are skipped with a message).
bench: all $(BUILD)/prdshm-bench bench-deps
	$(BUILD)/prdshm-bench --json=$(BUILD)/bench.json $(BENCH_ARGS)
	$(Q)[ ! -f $(BUILD)/bench.json ] || $(PYTHON) tests/bench/plot.py $(BUILD)/bench.json $(BUILD)/bench
	$(if $(SANITIZE),,$(MAKE) --no-print-directory bench-python)

BENCH_DEPS_STAMP := $(BUILD)/.bench-deps-ok
bench-deps: $(BENCH_DEPS_STAMP)
$(BENCH_DEPS_STAMP):
	$(Q)mkdir -p $(BUILD)
	$(Q)missing=""; command -v gnuplot >/dev/null 2>&1 || missing=" gnuplot-nox"; \
	( $(APT_INSTALL_MISSING) ) || echo "prdshm: the bench draws no plots without gnuplot-nox"
	$(Q)touch $@

# Case-by-case ratios of two runs' JSON: make bench-compare OLD=a.json NEW=b.json
bench-compare:
	$(Q)[ -n "$(OLD)" ] && [ -n "$(NEW)" ] || { echo "usage: make bench-compare OLD=a.json NEW=b.json"; exit 2; }
	$(Q)$(PYTHON) tests/bench/compare.py $(OLD) $(NEW)

# From Python: prdshm against fcntl.flock and python3-filelock (docs/performance.md).
bench-python: $(PY_STAMP)
	PYTHONPATH=$(PY_BUILD) $(PYTHON) python/bench/bench.py

$(TORTURE_SRC:%.c=$(BUILD)/hooks/%.o): $(wildcard tests/torture/*.h)
$(BUILD)/prdshm-torture: $(TORTURE_SRC:%.c=$(BUILD)/hooks/%.o) $(STATIC_T)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

torture: all $(BUILD)/prdshm-torture
	$(BUILD)/prdshm-torture --kills $(TORTURE_KILLS) --inspect $(BUILD)/bin/prdshm-inspect

# The figure in docs/reliability.md: 100,000 SIGKILLs over 8 workers, and
# a worker killed by its own hook at every crash point of the lock and
# phase paths (--all-points fails the run if one was never hit).
TORTURE_LONG_KILLS ?= 100000
torture-long: all $(BUILD)/prdshm-torture
	$(BUILD)/prdshm-torture --kills $(TORTURE_LONG_KILLS) --workers 8 --all-points \
	  --inspect $(BUILD)/bin/prdshm-inspect

# fuzz_args drives the tools' own parsers: the tools' objects, each main
# renamed (prdshm-lock's becomes prdshm_lock_main), in an archive that the
# other targets do not pull from.
FUZZ_TOOL_OBJ := $(TOOL_MAINS:tools/%.c=$(BUILD)/fuzz/tools/%.o) $(TOOL_COMMON_OBJ)
$(BUILD)/fuzz/tools/%.o: tools/%.c $(HEADERS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) -Dmain=$(subst -,_,$*)_main $(CFLAGS) -Wno-missing-prototypes -c -o $@ $<
$(BUILD)/libprdshm-tools-fuzz.a: $(FUZZ_TOOL_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

FUZZ_TIME ?= 30
fuzz: | $(DEPS_STAMP)
	$(Q)$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang \
	  SANITIZE="-fsanitize=fuzzer-no-link,address,undefined" \
	  build-fuzz/libprdshm-hooks.a build-fuzz/libprdshm-tools-fuzz.a
	$(Q)set -e; for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  clang $(CPPFLAGS) -Itools -DPRDSHM_TEST_HOOKS -g -O1 -fsanitize=fuzzer,address,undefined \
	    -o build-fuzz/$$n $$f build-fuzz/libprdshm-tools-fuzz.a build-fuzz/libprdshm-hooks.a \
	    -pthread -ljansson $(LDLIBS); \
	  mkdir -p build-fuzz/corpus-$$n; \
	  echo "fuzz: $$n for $(FUZZ_TIME)s"; \
	  build-fuzz/$$n -max_total_time=$(FUZZ_TIME) -print_final_stats=0 build-fuzz/corpus-$$n tests/fuzz/corpus/$$n 2>build-fuzz/$$n.log \
	    || { tail -40 build-fuzz/$$n.log; exit 1; }; done

coverage:
	$(MAKE) check BUILD=build-cov OPT="-O0 -g" SANITIZE="--coverage"
	$(Q)bash tests/coverage.sh build-cov
