# microvm-host-helpers
VERSION    := 0.1.0
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DESTDIR    ?=

CC         ?= cc
PKG_CONFIG ?= pkg-config

# SANITIZE=1: the same build with ASan and UBSan, in its own folder.
ifeq ($(SANITIZE),1)
B          ?= build-san
SANFLAGS   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT        := -O1
else
B          ?= build
SANFLAGS   :=
OPT        := -O2 -D_FORTIFY_SOURCE=2
endif

WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wmissing-prototypes \
            -Wstrict-prototypes -Wno-unused-parameter
CFLAGS   ?= -g $(OPT)
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) $(SANFLAGS) -D_GNU_SOURCE -fstack-protector-strong \
            -DVERSION='"$(VERSION)"' -Icommon -MMD -MP
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS) -Wl,--as-needed -Wl,-z,relro,-z,now

NL_CFLAGS   := $(shell $(PKG_CONFIG) --cflags libnl-3.0 libnl-route-3.0 2>/dev/null)
NL_LIBS     := $(shell $(PKG_CONFIG) --libs libnl-3.0 libnl-route-3.0 2>/dev/null)
KMOD_CFLAGS := $(shell $(PKG_CONFIG) --cflags libkmod 2>/dev/null)
KMOD_LIBS   := $(shell $(PKG_CONFIG) --libs libkmod 2>/dev/null)
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS  := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)

TOOLS := tap-setup pci-bind virtiofs-launch runner-exec

# Per tool: extra compile flags and libraries.
tap-setup_CFLAGS := $(NL_CFLAGS)
tap-setup_LIBS   := $(NL_LIBS)
pci-bind_CFLAGS  := $(KMOD_CFLAGS)
pci-bind_LIBS    := $(KMOD_LIBS)
# virtiofs-launch stays resident beside every VM: linked statically (as a
# position-independent executable) it peaks at about 1 MiB of RSS instead of
# 1.9 MiB, most of which would be libc pages it touches. It uses no NSS.
# STATIC= (empty) links it dynamically; sanitizer builds always do.
STATIC     ?= 1
ifeq ($(STATIC)$(SANITIZE),1)
virtiofs-launch_LIBS := -static-pie
endif

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/obj/%.o)
LIBCOMMON  := $(B)/libcommon.a

all: $(TOOLS:%=$(B)/%)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $($(firstword $(subst /, ,$<))_CFLAGS) -c -o $@ $<

$(LIBCOMMON): $(COMMON_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

define tool_rule
$(1)_SRC := $$(wildcard $(1)/*.c)
$(1)_OBJ := $$($(1)_SRC:%.c=$(B)/obj/%.o)
$(B)/$(1): $$($(1)_OBJ) $(LIBCOMMON)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$($(1)_OBJ) $(LIBCOMMON) $$($(1)_LIBS)
endef
$(foreach t,$(TOOLS),$(eval $(call tool_rule,$(t))))

# virtiofs-launch again, from the same objects, linked dynamically: for the
# tests that preload a shim into it (tests/shims/failat.so), which does
# nothing to a static program. Never installed.
$(B)/tests/virtiofs-launch: $(virtiofs-launch_OBJ) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $(virtiofs-launch_OBJ) $(LIBCOMMON)

# Unit tests: one Check runner, one suite per area (tests/unit/suites.def).
tests_CFLAGS := $(CHECK_CFLAGS) $(NL_CFLAGS) $(KMOD_CFLAGS) -Itests/unit \
                -DBUILD_DIR='"$(abspath $(B))"' -DSRC_DIR='"$(CURDIR)"'
TEST_SRC := $(wildcard tests/unit/*.c)
TEST_OBJ := $(TEST_SRC:%.c=$(B)/obj/%.o)
$(B)/check-runner: $(TEST_OBJ) $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $(TEST_OBJ) $(LIBCOMMON) $(CHECK_LIBS) $(NL_LIBS) $(KMOD_LIBS)

# Test helpers: programs from tests/helpers/*.c, LD_PRELOAD shims from
# tests/shims/*.c (the simulated PCI sysfs lives there).
HELPERS := $(patsubst tests/helpers/%.c,$(B)/tests/helpers/%,$(wildcard tests/helpers/*.c))
SHIMS   := $(patsubst tests/shims/%.c,$(B)/tests/shims/%.so,$(wildcard tests/shims/*.c))
$(B)/tests/helpers/%: tests/helpers/%.c $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIBCOMMON)
# Shims are built without sanitizers: they are preloaded into other programs.
# killat.so and failat.so share tests/shims/counted.h (-MMD: rebuilt with it).
$(B)/tests/shims/%.so: tests/shims/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 $(WARN) -g -O1 -D_GNU_SOURCE -fPIC -shared -MMD -MP -o $@ $< -ldl

build-tests: all $(B)/check-runner $(HELPERS) $(SHIMS) $(B)/tests/virtiofs-launch

# Debian packages the build and the tests need (as root; only missing ones).
deps:
	tests/deps.sh

# The README's test command, as root: the packages, then the whole suite on
# the normal build, then again on the ASan+UBSan build (without the slow
# end-to-end boots, which exercise the same code paths).
check: deps
	$(MAKE) test
	$(MAKE) SANITIZE=1 MVM_NO_E2E=1 test

# One build's tests (B, SANITIZE select the build).
test: build-tests
	B=$(B) SANITIZE=$(SANITIZE) MVM_NO_E2E=$(MVM_NO_E2E) tests/run

# libFuzzer targets (clang), one a file: tests/fuzz/fuzz_NAME.c is
# $(B)/fuzz/fuzz-NAME, its seed corpus tests/fuzz/corpus/NAME/. A target
# fuzzes parsers of common/ only, so each links the common sources.
# `make fuzz` builds them; `make fuzz-long` runs each for FUZZ_SECONDS
# (default 600) on a scratch copy of its corpus and fails on a finding.
FUZZ_CFLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -DVERSION='"$(VERSION)"' -Icommon -Itests/fuzz -fsanitize=fuzzer,address,undefined
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_TARGETS:%=$(B)/fuzz/fuzz-%)
fuzz: $(FUZZ_BINS)
$(B)/fuzz/fuzz-%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(COMMON_SRC)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(COMMON_SRC)

FUZZ_SECONDS ?= 600
fuzz-long: fuzz
	B=$(B) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run $(FUZZ_TARGETS)

# Many cycles of the helpers, leaks and leftovers (minutes; not in check).
soak: build-tests
	B=$(B) tests/soak/run

demo: deps
	$(MAKE) all
	tests/e2e/demo.sh

bench: all
	B=$(B) tests/bench/run

# What install writes (and uninstall removes) besides the programs.
MAN8     := $(wildcard $(TOOLS:%=%/*.8))
UNITS    := $(wildcard units/*.service units/*.target)
SYSUSERS := $(wildcard units/microvm.conf)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR)
	install -m 0755 $(TOOLS:%=$(B)/%) $(DESTDIR)$(BINDIR)/
	install -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	for u in $(UNITS); do \
		sed -e 's|@BINDIR@|$(BINDIR)|g' "$$u" > $(DESTDIR)$(UNITDIR)/$${u##*/}; \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$${u##*/}; \
	done
	[ -z "$(SYSUSERS)" ] || install -m 0644 $(SYSUSERS) $(DESTDIR)$(SYSUSERSDIR)/microvm.conf

# The files install wrote, given the same variables; directories stay (with
# PREFIX=/usr they are the system's).
uninstall:
	rm -f $(TOOLS:%=$(DESTDIR)$(BINDIR)/%)
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(MAN8)))
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(notdir $(UNITS)))
	rm -f $(SYSUSERS:units/%=$(DESTDIR)$(SYSUSERSDIR)/%)

# The default builds, and B when it names another.
clean:
	rm -rf build build-san $(B)

.PHONY: all deps check test build-tests fuzz fuzz-long soak demo bench install uninstall clean

-include $(shell find $(B) -name '*.d' 2>/dev/null)
