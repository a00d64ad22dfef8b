# Build, test, run and install the server. `make` builds ./memcached
# (release) and ./memcached-debug (debug assertions and debug-only commands).
# `make install` copies what `make` built and never runs cargo, so it works
# from `sudo` where cargo is not on the PATH.

CARGO   ?= cargo
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man/man1
DOCDIR  ?= $(PREFIX)/share/doc/memcached
UNITDIR ?= $(PREFIX)/lib/systemd/system

# memcached refuses to run as root without -u: as root, `make run` runs
# the server as nobody (RUN_USER=name picks another account).
RUN_USER ?= $(if $(filter 0,$(shell id -u)),nobody)

all: memcached memcached-debug

memcached: FORCE
	$(CARGO) build --release
	cp target/release/memcached memcached.tmp && mv -f memcached.tmp memcached

memcached-debug: FORCE
	$(CARGO) build --features debug-commands
	cp target/debug/memcached memcached-debug.tmp && mv -f memcached-debug.tmp memcached-debug

test: all test-loadgen
	$(CARGO) test --features debug-commands
	prove -r t/

# The load generator for `make bench` (its own cargo package, so the
# server's dependencies stay as they are).
loadgen: FORCE
	$(CARGO) build --release --manifest-path bench/loadgen/Cargo.toml

test-loadgen: FORCE
	$(CARGO) test --release --manifest-path bench/loadgen/Cargo.toml

# Sends the same generated requests to ./memcached and to memcached
# 1.6.45 and compares the replies byte for byte (doc/compatibility.md,
# "Checking against memcached 1.6.45"). Not part of `make test`: it needs
# a 1.6.45 binary. Fails on a divergence that is not a known difference.
REFERENCE      ?= /tmp/memcached-1.6.45/memcached
DIFFTEST_SEED  ?= 1
DIFFTEST_COUNT ?= 500
DIFFTEST_ARGS  ?=

difftest-tool: FORCE
	$(CARGO) build --release --manifest-path tools/difftest/Cargo.toml

difftest: memcached difftest-tool
	tools/difftest/target/release/difftest --ours ./memcached --reference $(REFERENCE) \
		--seed $(DIFFTEST_SEED) --count $(DIFFTEST_COUNT) $(DIFFTEST_ARGS)

# Ours against Debian's memcached -t 1, side by side (bench/README).
BENCH_ARGS ?=

bench: memcached loadgen
	python3 bench/run.py $(BENCH_ARGS)

# Dump and load speed of the -F dump file (bench/README).
bench-dump: memcached loadgen
	python3 bench/dump.py $(BENCH_ARGS)

run: memcached
	./memcached -l 127.0.0.1 -p 11211 $(if $(RUN_USER),-u $(RUN_USER))

# The units name the binary by its installed path, BINDIR.
UNITS = memcached.service memcached@.service

install:
	@test -x memcached || { echo "make install: ./memcached is not built; run make first, then make install" >&2; exit 1; }
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(UNITDIR)
	install -m 0755 memcached $(DESTDIR)$(BINDIR)/memcached
	install -m 0644 doc/memcached.1 $(DESTDIR)$(MANDIR)/memcached.1
	install -m 0644 README ChangeLog doc/*.md $(DESTDIR)$(DOCDIR)/
	for u in $(UNITS); do \
		sed 's|/usr/local/bin/memcached|$(BINDIR)/memcached|g' contrib/$$u > $(DESTDIR)$(UNITDIR)/$$u.tmp && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u.tmp && \
		mv -f $(DESTDIR)$(UNITDIR)/$$u.tmp $(DESTDIR)$(UNITDIR)/$$u || exit 1; \
	done

# Removes what install put in place, and nothing else (the dump files in
# /var/lib/memcached are the cache's, not the package's).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/memcached $(DESTDIR)$(MANDIR)/memcached.1
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS))
	rm -f $(DESTDIR)$(DOCDIR)/README $(DESTDIR)$(DOCDIR)/ChangeLog $(addprefix $(DESTDIR)$(DOCDIR)/,$(notdir $(wildcard doc/*.md)))
	! test -d $(DESTDIR)$(DOCDIR) || rmdir --ignore-fail-on-non-empty $(DESTDIR)$(DOCDIR)

clean:
	$(CARGO) clean
	$(CARGO) clean --manifest-path bench/loadgen/Cargo.toml
	$(CARGO) clean --manifest-path tools/difftest/Cargo.toml
	rm -f memcached memcached-debug

FORCE:

.PHONY: all test run install uninstall clean loadgen test-loadgen bench bench-dump difftest difftest-tool FORCE
