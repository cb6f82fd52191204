# satchel: plain make. `make`, `make test`, `make run`, `make asan`.
VERSION   := 0.1.0
CC        ?= cc
BUILD     ?= build
CFLAGS    ?= -O2 -g
# Hardening of the default build (issue 13): canaries, FORTIFY level 3
# (glibc 2.35+, needs optimisation), a position-independent executable
# with full RELRO and immediate binding. `make asan` sets HARDEN_FORTIFY
# empty: FORTIFY's checked copies hide accesses from ASan.
# tests/integration/test_hardening.py checks the binary with readelf.
HARDEN_FORTIFY ?= -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3
HARDEN_CFLAGS  := -fstack-protector-strong -fPIE $(HARDEN_FORTIFY)
HARDEN_LDFLAGS := -pie -Wl,-z,relro,-z,now
WARN      := -Wall -Wextra -Wformat=2 -Wshadow -Wno-unused-parameter
CPPFLAGS  += -D_GNU_SOURCE -DSATCHEL_VERSION='"$(VERSION)"' -Isrc
LDLIBS    += -lssl -lcrypto -lcrypt $(shell pkg-config --libs libgsasl 2>/dev/null || echo -lgsasl)
# jansson: JWT claims (OAUTHBEARER); krb5: the default realm (GSSAPI)
LDLIBS    += $(shell pkg-config --libs jansson krb5 2>/dev/null || echo -ljansson -lkrb5) -lm
# SQLite: the embedded user database (auth/userdb_sqlite.c)
LDLIBS    += $(shell pkg-config --libs sqlite3 2>/dev/null || echo -lsqlite3)
# libpq (the PostgreSQL user database and heartbeats) and libldap (the
# LDAP user database) are opened with dlopen where configured, not
# linked (util/libpq_load.h says why); their headers are needed.
CPPFLAGS  += $(shell pkg-config --cflags libpq 2>/dev/null)
# LDAP connections are made on threads, store jobs run on them
LDLIBS    += -pthread
# libresolv (glibc, no package of its own): the SRV lookups of
# `satchel fetch --configure`
LDLIBS    += -lresolv
# Linux-PAM: system users (auth/userdb_pam.c, pam_helper.c)
LDLIBS    += -lpam
# libseccomp: the system call filter of every child (util/sandbox_seccomp.c)
LDLIBS    += $(shell pkg-config --libs libseccomp 2>/dev/null || echo -lseccomp)
CPPFLAGS  += $(shell pkg-config --cflags krb5 2>/dev/null)
ifdef WERROR
WARN += -Werror
endif

# Debian packages the build, the tests and the demo need.
DEB_PKGS := build-essential pkg-config libssl-dev libcrypt-dev libgsasl-dev \
            libjansson-dev libkrb5-dev \
            python3 python3-prometheus-client \
            curl fetchmail mpop getmail6 openssl iproute2 \
            gsasl krb5-kdc krb5-admin-server krb5-user \
            clang libclang-rt-14-dev \
            postfix swaks strace bindfs \
            liblockfile-bin procmail mutt \
            libgnutls-dane0 libidn12 libidn2-0 libgnutls30 libdb5.3 \
            libnsl2 libpcre2-8-0 libsqlite3-dev sqlite3 \
            libpq-dev postgresql-15 postgresql-client-15 \
            libldap-dev slapd ldap-utils libpam0g-dev \
            liblua5.3-0 libopentracing-c-wrapper0 \
            libmailutils9 libmu-dbm9 libwrap0 \
            libsodium23 libmail-pop3client-perl libio-socket-ssl-perl \
            cppcheck clang-tidy libseccomp-dev

SRCS      := $(sort $(wildcard src/*.c src/*/*.c))
LIB_SRCS  := $(filter-out src/main.c,$(SRCS))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test-*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all test unit integration run deps asan clean install fuzz bench \
	bench-lmtp bench-fetch bench-tls-heap fuzz-build fuzz-smoke lint lint-tidy
all: $(BUILD)/satchel $(UNIT_BINS)

$(BUILD)/%.o: %.c $(wildcard src/*/*.h src/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(HARDEN_CFLAGS) $(CFLAGS) $(WARN) -c -o $@ $<

$(BUILD)/libsatchel.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/satchel: $(BUILD)/src/main.o $(BUILD)/libsatchel.a
	$(CC) $(HARDEN_CFLAGS) $(CFLAGS) $(HARDEN_LDFLAGS) $(LDFLAGS) -o $@ $^ \
		$(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit.h $(BUILD)/libsatchel.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests/unit $(HARDEN_CFLAGS) $(CFLAGS) $(WARN) \
		$(HARDEN_LDFLAGS) -o $@ $< $(BUILD)/libsatchel.a $(LDFLAGS) \
		$(LDLIBS)

# Install missing Debian packages only; never touches what is there.
# Postfix (tests/integration/postfix.py runs a private instance of it) is
# preseeded to "Local only" so its install asks nothing and sets up no
# relaying; the system instance is never started or configured by us.
# slapd (tests/integration/slapd.py runs its own, in a temp dir) is
# preseeded to make no directory of its own, so no system instance has
# a database to serve.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		case " $$missing " in *" postfix "*) \
			echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections; \
			echo "postfix postfix/mailname string localhost.localdomain" | debconf-set-selections;; \
		esac; \
		case " $$missing " in *" slapd "*) \
			echo "slapd slapd/no_configuration boolean true" | debconf-set-selections;; \
		esac; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@if [ "$$(id -u)" = 0 ]; then \
		for u in satchel satchel-auth; do \
			getent passwd $$u >/dev/null || useradd --system \
				--no-create-home --home-dir /nonexistent \
				--shell /usr/sbin/nologin $$u; \
		done; \
		scripts/fetch-deb exim4-daemon-light $(CURDIR)/build-exim \
			usr/sbin/exim4; \
		scripts/fetch-deb haproxy $(CURDIR)/build-haproxy \
			usr/sbin/haproxy; \
		scripts/fetch-deb mailutils-pop3d $(CURDIR)/build-mailutils \
			usr/sbin/pop3d; \
		scripts/fetch-deb dovecot-core $(CURDIR)/build-dovecot \
			usr/sbin/dovecot; \
		scripts/fetch-deb dovecot-pop3d $(CURDIR)/build-dovecot \
			usr/lib/dovecot/pop3; \
	fi

test: deps all
	@BUILD=$(BUILD) WERROR=$(WERROR) scripts/run-tests

asan:
	$(MAKE) BUILD=build-asan CC=gcc HARDEN_FORTIFY= \
		CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		LDFLAGS="-fsanitize=address,undefined" all

# libFuzzer targets, one per parser (tests/fuzz/fuzz-*.c), built with
# clang against the library compiled once with the same sanitizers.
# `make fuzz` runs each for FUZZ_SECONDS; `make fuzz-smoke` (part of
# `make test`) runs each for FUZZ_SMOKE_SECONDS, two at a time, and
# prints "ok - fuzz NAME" or "not ok - fuzz NAME" (the crash's log
# follows). Seeds: tests/fuzz/corpus/NAME/; what a run finds is kept
# in build-fuzz/corpus-NAME/.
FUZZ_CC            ?= clang
FUZZ_DIR           := build-fuzz
FUZZ_SECONDS       ?= 30
# the smoke run replays each target's seeds, then mutates for the rest of
# its seconds: 3 s each, two at a time, about 1.5 s per target on 2 cores
FUZZ_SMOKE_SECONDS ?= 3
FUZZ_SAN  := address,undefined -fno-sanitize-recover=undefined
# clang also warns on vsnprintf(fmt) inside functions that carry the
# printf attribute (gcc does not): those are checked at their callers.
FUZZ_WARN := $(WARN) -Wno-format-nonliteral
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz-*.c))
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(FUZZ_DIR)/%)
FUZZ_OBJS := $(LIB_SRCS:%.c=$(FUZZ_DIR)/%.o)

$(FUZZ_DIR)/%.o: %.c $(wildcard src/*/*.h src/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) -g -O1 -fsanitize=fuzzer-no-link,$(FUZZ_SAN) \
		$(FUZZ_WARN) -c -o $@ $<

$(FUZZ_DIR)/libsatchel.a: $(FUZZ_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_DIR)/fuzz-%: tests/fuzz/fuzz-%.c $(FUZZ_DIR)/libsatchel.a
	$(FUZZ_CC) $(CPPFLAGS) -g -O1 -fsanitize=fuzzer,$(FUZZ_SAN) $(FUZZ_WARN) \
		-o $@ $< $(FUZZ_DIR)/libsatchel.a $(LDLIBS)

fuzz-build: $(FUZZ_BINS)

# fuzz-run-NAME: one target for FUZZ_RUN_SECONDS (-timeout: a hang fails).
fuzz-run-%: $(FUZZ_DIR)/fuzz-%
	@n=fuzz-$*; mkdir -p $(FUZZ_DIR)/corpus-$$n; \
	seeds=; [ -d tests/fuzz/corpus/$* ] && seeds=tests/fuzz/corpus/$*; \
	if $< -max_total_time=$(FUZZ_RUN_SECONDS) -max_len=4096 -timeout=10 \
		-artifact_prefix=$(FUZZ_DIR)/$$n- $(FUZZ_DIR)/corpus-$$n \
		$$seeds >$(FUZZ_DIR)/$$n.log 2>&1; then \
		echo "ok - fuzz $* ($$(grep -o 'Done [0-9]* runs' \
			$(FUZZ_DIR)/$$n.log | head -1))"; \
	else \
		echo "not ok - fuzz $*: see $(FUZZ_DIR)/$$n.log"; \
		grep -v '^#\|^INFO' $(FUZZ_DIR)/$$n.log | tail -40 | \
			sed 's/^/# /'; \
	fi

fuzz: fuzz-build
	@$(MAKE) --no-print-directory FUZZ_RUN_SECONDS=$(FUZZ_SECONDS) \
		$(FUZZ_BINS:$(FUZZ_DIR)/fuzz-%=fuzz-run-%)

fuzz-smoke: fuzz-build
	@$(MAKE) --no-print-directory -j2 --output-sync=target \
		FUZZ_RUN_SECONDS=$(FUZZ_SMOKE_SECONDS) \
		$(FUZZ_BINS:$(FUZZ_DIR)/fuzz-%=fuzz-run-%)

# Static analysis (issue 13): cppcheck over src/ (suppressions, each with
# its reason, in tests/cppcheck.supp) and clang-tidy with .clang-tidy, one
# stamp per file in build-lint/ so a second run checks only what changed.
# Prints "ok - lint cppcheck" / "ok - lint clang-tidy" (or "not ok").
LINT_DIR    := build-lint
TIDY_STAMPS := $(SRCS:%.c=$(LINT_DIR)/%.tidy)
CPPCHECK    := cppcheck --quiet --std=c11 --enable=warning,portability \
	--inline-suppr --suppressions-list=tests/cppcheck.supp \
	--error-exitcode=1 -D_GNU_SOURCE -Isrc

$(LINT_DIR)/%.tidy: %.c .clang-tidy $(wildcard src/*/*.h src/*.h)
	@mkdir -p $(dir $@)
	@clang-tidy --quiet $< -- $(CPPFLAGS) >$@.log 2>&1 || \
		{ grep -v '^[0-9]* warnings\? generated' $@.log; exit 1; }
	@touch $@

lint-tidy: $(TIDY_STAMPS)

lint:
	@rc=0; \
	if $(CPPCHECK) -j2 src >$(LINT_DIR).cppcheck.log 2>&1; then \
		echo "ok - lint cppcheck"; \
	else \
		cat $(LINT_DIR).cppcheck.log; \
		echo "not ok - lint cppcheck"; rc=1; \
	fi; \
	if $(MAKE) --no-print-directory -k -j2 lint-tidy; then \
		echo "ok - lint clang-tidy"; \
	else \
		echo "not ok - lint clang-tidy"; rc=1; \
	fi; \
	exit $$rc

# Side by side with Dovecot (Debian's, unpacked into build-dovecot/ and
# run in a private mount namespace, never installed: scripts/dovecotns.py;
# installs gnuplot when missing; runs as root, ~10-15 minutes):
# bench/out/results.json.
bench: all
	python3 bench/run.py

# LMTP delivery (issue 8) against Dovecot's lmtp, on disk and tmpfs
# (dovecot-lmtpd unpacked into build-dovecot/ when missing, runs as
# root, < 10 minutes):
# bench/out/lmtp.json and bench/out/lmtp.txt.
bench-lmtp: all
	python3 bench/lmtp.py

# satchel fetch (issue 9) against mpop and fetchmail: MB/s, CPU per GB,
# a leave-on-server poll of 100,000 messages, fsyncs per message
bench-fetch: all
	python3 bench/fetch.py

# Several nodes (issue 11): lock takeover after a node kill and the
# PROXY v2 overhead through Debian's HAProxy (make deps), < 2 minutes:
# bench/out/nodes.json and bench/out/nodes.txt.
bench-nodes: all
	python3 bench/nodes.py

# What OpenSSL itself keeps on the heap for one idle server-side TLS
# connection, by allocation site (issue 14; bench/tls_heap.c, < 1 s).
# Idle memory per connection, plain and TLS, without Dovecot:
# python3 bench/idle_mem.py (docs/performance.md).
bench-tls-heap: $(BUILD)/bench-tls-heap
	@mkdir -p $(BUILD)/tls-heap
	@[ -f $(BUILD)/tls-heap/cert.pem ] || openssl req -x509 -newkey ec \
		-pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
		-keyout $(BUILD)/tls-heap/key.pem -out $(BUILD)/tls-heap/cert.pem \
		-subj /CN=localhost 2>/dev/null
	$(BUILD)/bench-tls-heap $(BUILD)/tls-heap/cert.pem $(BUILD)/tls-heap/key.pem
	$(BUILD)/bench-tls-heap $(BUILD)/tls-heap/cert.pem $(BUILD)/tls-heap/key.pem tls1.2

$(BUILD)/bench-tls-heap: bench/tls_heap.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -o $@ $< -lssl -lcrypto

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
	rm -rf build build-asan build-fuzz build-lint build-lint.cppcheck.log
