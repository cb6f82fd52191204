# satchel: plain make. `make`, `make test`, `make run`, `make asan`.
VERSION   := 0.1.0
CC        ?= cc
BUILD     ?= build
CFLAGS    ?= -O2 -g
WARN      := -Wall -Wextra -Wformat=2 -Wshadow -Wno-unused-parameter
CPPFLAGS  += -D_GNU_SOURCE -DSATCHEL_VERSION='"$(VERSION)"' -Isrc
LDLIBS    += -lssl -lcrypto -lcrypt $(shell pkg-config --libs libgsasl 2>/dev/null || echo -lgsasl)
# jansson: JWT claims (OAUTHBEARER); krb5: the default realm (GSSAPI)
LDLIBS    += $(shell pkg-config --libs jansson krb5 2>/dev/null || echo -ljansson -lkrb5) -lm
# libsystemd: sd_notify (READY=1 once every worker of a generation listens)
LDLIBS    += $(shell pkg-config --libs libsystemd 2>/dev/null || echo -lsystemd)
CPPFLAGS  += $(shell pkg-config --cflags krb5 2>/dev/null)
ifdef WERROR
WARN += -Werror
endif

# Debian packages the build, the tests and the demo need.
DEB_PKGS := build-essential pkg-config libssl-dev libcrypt-dev libgsasl-dev \
            libjansson-dev libkrb5-dev libsystemd-dev \
            python3 \
            curl fetchmail mpop openssl iproute2 \
            gsasl krb5-kdc krb5-admin-server krb5-user

SRCS      := $(sort $(wildcard src/*.c src/*/*.c))
LIB_SRCS  := $(filter-out src/main.c,$(SRCS))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test-*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all test unit integration run deps asan clean install fuzz bench
all: $(BUILD)/satchel $(UNIT_BINS)

$(BUILD)/%.o: %.c $(wildcard src/*/*.h src/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -c -o $@ $<

$(BUILD)/libsatchel.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/satchel: $(BUILD)/src/main.o $(BUILD)/libsatchel.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit.h $(BUILD)/libsatchel.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) $(WARN) -o $@ $< $(BUILD)/libsatchel.a $(LDFLAGS) $(LDLIBS)

# Install missing Debian packages only; never touches what is there.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@if [ "$$(id -u)" = 0 ]; then \
		for u in satchel satchel-auth; do \
			getent passwd $$u >/dev/null || useradd --system \
				--no-create-home --home-dir /nonexistent \
				--shell /usr/sbin/nologin $$u; \
		done; \
	fi

test: deps all
	@BUILD=$(BUILD) scripts/run-tests

asan:
	$(MAKE) BUILD=build-asan CC=gcc \
		CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=address,undefined" all

# libFuzzer targets, one per parser; each runs for FUZZ_SECONDS.
FUZZ_SECONDS ?= 30
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz-*.c))
fuzz:
	@mkdir -p build-fuzz
	@for f in $(FUZZ_SRCS); do \
		t=build-fuzz/$$(basename $$f .c); \
		clang -D_GNU_SOURCE -DSATCHEL_VERSION='"$(VERSION)"' -Isrc -g -O1 \
			-fsanitize=fuzzer,address,undefined -o $$t $$f $(LIB_SRCS) \
			$(LDLIBS) || exit 1; \
		echo "== $$t ($(FUZZ_SECONDS) s)"; \
		mkdir -p build-fuzz/corpus-$$(basename $$f .c); \
		$$t -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
			build-fuzz/corpus-$$(basename $$f .c) 2>&1 | tail -3 || exit 1; \
	done

# Side by side with Dovecot (installs dovecot-pop3d and gnuplot when
# missing, runs as root, ~10-15 minutes): bench/out/results.json.
bench: all
	python3 bench/run.py

run: deps all
	@scripts/demo

install: all
	install -D -m 755 $(BUILD)/satchel $(DESTDIR)/usr/local/bin/satchel
	install -D -m 644 docs/satchel.1 $(DESTDIR)/usr/local/share/man/man1/satchel.1
	install -D -m 644 docs/satchel.conf.5 $(DESTDIR)/usr/local/share/man/man5/satchel.conf.5
	@for u in satchel satchel-auth; do \
		getent passwd $$u >/dev/null || useradd --system \
			--no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin $$u; \
	done

clean:
	rm -rf build build-asan build-fuzz
