#!/usr/bin/perl
# cache_memlimit, hashpower, -R and -b: the admin knobs and what stats
# shows of them.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;

sub stat_of {
    my ($sock, $name) = @_;
    print $sock "stats\r\n";
    my $raw = read_until_end($sock);
    return $raw =~ /^STAT \Q$name\E (\S+)\r$/m ? $1 : 'missing';
}

my $server = new_memcached('-m 64');
my $sock = $server->sock;

is(stat_of($sock, 'limit_maxbytes'), 67108864, 'limit_maxbytes from -m 64');
is(send_recv($sock, "cache_memlimit 100\r\n"), "OK\r\n", 'cache_memlimit 100');
is(stat_of($sock, 'limit_maxbytes'), 104857600, 'limit_maxbytes follows cache_memlimit');
is(send_recv($sock, "cache_memlimit 7\r\n"),
   "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n", 'cache_memlimit below 8');
is(send_recv($sock, "cache_memlimit 2000000000\r\n"),
   "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n", 'cache_memlimit given in bytes');
is(send_recv($sock, "cache_memlimit abc\r\n"), "ERROR\r\n", 'cache_memlimit abc');
is(send_recv($sock, "cache_memlimit\r\n"), "ERROR\r\n", 'cache_memlimit with no value');
print $sock "cache_memlimit 64 noreply\r\n";
is(send_recv($sock, "version\r\n") =~ /^VERSION / ? 1 : 0, 1, 'cache_memlimit noreply sends nothing');
is(stat_of($sock, 'limit_maxbytes'), 67108864, 'limit_maxbytes back to 64m');
print $sock "set k 0 0 1\r\nv\r\n";
is(scalar <$sock>, "STORED\r\n", 'stores after memlimit changes');

# -o hashpower sets the starting table size.
my $hp = new_memcached('-o hashpower=20');
is(stat_of($hp->sock, 'hash_power_level'), 20, 'hash_power_level 20');
# Our buckets are 32-bit chunk ids, memcached's 64-bit pointers.
is(stat_of($hp->sock, 'hash_bytes'), is_ours() ? 4194304 : 8388608, 'hash_bytes for 2^20 buckets');
is(stat_of($sock, 'hash_power_level'), 16, 'default hash_power_level 16');
is(stat_of($sock, 'hash_is_expanding'), 0, 'not expanding at rest');

# -R 1: a pipelined batch is still served completely and in order.
my $r1 = new_memcached('-R 1');
my $rs = $r1->sock;
print $rs join('', map { "set k$_ 0 0 1\r\n$_\r\n" } 1 .. 5), "get k1 k5\r\n";
my $got = '';
$got .= scalar <$rs> for 1 .. 5;
is($got, "STORED\r\n" x 5, '-R 1: five pipelined sets');
is(read_until_end($rs), "VALUE k1 0 1\r\n1\r\nVALUE k5 0 1\r\n5\r\nEND\r\n", '-R 1: then the get');

# -b sets the listen backlog; the server starts and answers.
my $b = new_memcached('-b 16');
is(send_recv($b->sock, "version\r\n") =~ /^VERSION 1\.6\.\d+\r\n$/ ? 1 : 0, 1, '-b 16: serving');

done_testing();
