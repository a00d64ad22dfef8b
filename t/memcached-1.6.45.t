#!/usr/bin/perl
# Where memcached 1.6.45 answers otherwise than 1.6.18, the server answers
# as 1.6.45 does (doc/compatibility.md, "memcached 1.6.18 -> 1.6.45").
# Every expectation here was checked against memcached 1.6.45 built from
# its source (MEMCACHED_BIN=/path/to/memcached-1.6.45/memcached prove
# t/memcached-1.6.45.t); Debian's 1.6.18 fails them.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;

# A hang fails the script instead of blocking prove forever.
$SIG{ALRM} = sub { die "no reply within 120 s\n" };
alarm 120;

# ---- version ----

my $server = new_memcached();
my $sock = $server->sock;

is(send_recv($sock, "version\r\n"), "VERSION 1.6.45\r\n", 'version names 1.6.45');
is(stats_of($sock)->{version}, '1.6.45', 'stats version is 1.6.45');

done_testing();
