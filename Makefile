# Build, test, run and install the server. `make` builds ./memcached
# (release) and ./memcached-debug (debug assertions and debug-only commands).

CARGO   ?= cargo
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man/man1

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

# Ours against Debian's memcached -t 1, side by side (bench/README).
BENCH_ARGS ?=

bench: memcached loadgen
	python3 bench/run.py $(BENCH_ARGS)

# Dump and load speed of the -F dump file (bench/README).
bench-dump: memcached loadgen
	python3 bench/dump.py $(BENCH_ARGS)

run: memcached
	./memcached -l 127.0.0.1 -p 11211

install: memcached
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)
	install -m 0755 memcached $(DESTDIR)$(BINDIR)/memcached
	install -m 0644 doc/memcached.1 $(DESTDIR)$(MANDIR)/memcached.1

clean:
	$(CARGO) clean
	$(CARGO) clean --manifest-path bench/loadgen/Cargo.toml
	rm -f memcached memcached-debug

FORCE:

.PHONY: all test run install clean loadgen test-loadgen bench bench-dump FORCE
