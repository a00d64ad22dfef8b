#!/usr/bin/perl
# Command-line flags that end the process before it serves: -h, -V, -i, and
# every kind of bad input. A bad command line exits 64 (EX_USAGE) with one
# line that starts with the offending flag. memcached itself exits 1 for
# some of these and words them its own way, so this script only runs
# against our binary.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;

plan skip_all => 'messages and exit codes checked here are our own'
    unless is_ours();

# ---- help, version, license ----

my ($st, $out) = run_binary('-h');
is($st, 0, '-h exits 0');
like($out, qr/\Amemcached 1\.6\.\d+ \(Rust server, memcached-compatible\)\n/,
     '-h first line names this server');
like($out, qr/^-s, --unix-socket=<file> /m, '-h documents -s, --unix-socket');
like($out, qr/^-F, --disable-flush-all /m, '-h documents -F alone');
like($out, qr/^-F <file>, --dump-file=<file>$/m, '-h documents -F FILE / --dump-file');
like($out, qr/^-t, --threads=<num> .*no effect/m, '-h says -t has no effect');
like($out, qr/^   - hashpower: /m, '-h lists the -o options');

my ($st2, $out2) = run_binary('--help');
is($st2, 0, '--help exits 0');
is($out2, $out, '--help prints the same page as -h');

($st, $out) = run_binary('-V');
is($st, 0, '-V exits 0');
is($out, "memcached 1.6.45\n", '-V prints the version line only');

($st, $out) = run_binary('--version');
is($out, "memcached 1.6.45\n", '--version prints the version line only');

($st, $out) = run_binary('-i');
is($st, 0, '-i exits 0');
like($out, qr/BSD-3-Clause/, '-i names the license');

# ---- bad command lines ----
#
# Each entry: the arguments, then a pattern the whole output must match
# (one line, starting with the flag named in the message).

my @bad = (
    [['--bogus'],                     qr/\A--bogus: /],
    [['-Q'],                          qr/\A-Q: /],
    [['-P'],                          qr/\A-P: /],
    [['-d', 'stray'],                 qr/\Aunexpected argument 'stray'/],
    [['-c', '0'],                     qr/\A-c: /],
    [['-c', 'abc'],                   qr/\A-c: /],
    [['-t', '0'],                     qr/\A-t: /],
    [['-t', '-1'],                    qr/\A-t: /],
    [['-R', '0'],                     qr/\A-R: /],
    [['-f', '1.0'],                   qr/\A-f: /],
    [['-n', '0'],                     qr/\A-n: /],
    [['-m', '0'],                     qr/\A-m: /],
    [['-m', '64k'],                   qr/\A-m: /],
    [['-p', '70000'],                 qr/\A-p: /],
    [['-p', 'abc'],                   qr/\A-p: /],
    [['-D', 'ab'],                    qr/\A-D: /],
    [['-a', '999'],                   qr/\A-a: /],
    [['-B', 'bogus'],                 qr/\A-B: unknown protocol 'bogus'/],
    [['-l', '999.1.1.1'],             qr/\A-l 999\.1\.1\.1: /],
    [['-l', '127.0.0.1:notaport'],    qr/\A-l 127\.0\.0\.1:notaport: /],
    [['-l', '[::1'],                  qr/\A-l \[::1: /],
    [['-I', '512'],                   qr/\A-I: /],
    [['-I', '2000m'],                 qr/\A-I: /],
    [['-I', '1.5m'],                  qr/\A-I: /],
    [['-I', '40m'],                   qr/\A-I\/-m: /],
    [['-o', 'bogus_option'],          qr/\A-o bogus_option: /],
    [['-o', 'hashpower=abc'],         qr/\A-o hashpower: /],
    [['-o', 'hashpower=99'],          qr/\A-o hashpower: /],
    [['-o', 'slab_automove=9'],       qr/\A-o slab_automove: /],
    [['-o', 'lru_crawler_tocrawl='],  qr/\A-o lru_crawler_tocrawl: /],
    [['-o', 'hot_lru_pct=60,warm_lru_pct=60'], qr/\A-o hot_lru_pct/],
    [['-o', 'hash_algorithm=xxh3'],   qr/\A-o hash_algorithm: .*not supported/],
    [['-o', 'ext_path=/tmp/x:64m'],   qr/\A-o ext_path: /],
    [['-o', 'ssl_key=/tmp/key'],      qr/\A-o ssl_key: /],
    [['-F', '/tmp/mc.dump', '-e', '/tmp/mc.mem'],
     qr/\A-F \/tmp\/mc.dump and -e \/tmp\/mc.mem both name a file to keep the cache in; give one of them/],
    [['--dump-file='],                qr/\A--dump-file: empty file name/],
    [['-o', 'dump_interval=60'],      qr/\A-o dump_interval: needs a dump file \(-F FILE\)/],
    [['-S'],                          qr/\A-S /],
    [['-Z'],                          qr/\A-Z /],
    [['-Y', '/tmp/auth', '-U', '11211'], qr/\A-Y: /],
    [['-U', '70000'],                 qr/\A-U: /],
);

for my $case (@bad) {
    my ($args, $pattern) = @$case;
    my ($status, $output) = run_binary(@$args);
    is($status, 64, "@$args: exits 64");
    like($output, qr/$pattern[^\n]*\n\z/, "@$args: one line naming the flag");
}

done_testing();
