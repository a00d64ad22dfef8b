#!/usr/bin/perl
# delete: hits, misses, the legacy time argument (only "0" is accepted),
# bad command lines and noreply. Checked against memcached 1.6.18.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;

my $server = new_memcached();
my $sock = $server->sock;

is(send_recv($sock, "set a 0 0 1\r\nA\r\n"), "STORED\r\n", 'set a');
is(send_recv($sock, "delete a\r\n"), "DELETED\r\n", 'delete of a hit: DELETED');
mem_get_is($sock, 'a', undef, 'deleted key is gone');
is(send_recv($sock, "delete a\r\n"), "NOT_FOUND\r\n", 'delete of a miss: NOT_FOUND');
is(send_recv($sock, "add a 0 0 1\r\nB\r\n"), "STORED\r\n", 'add after delete: STORED');
mem_get_is($sock, 'a', 'B', 'the key is usable again');

# ---- the old "delete <key> <time>" form ----

is(send_recv($sock, "delete a 0\r\n"), "DELETED\r\n", 'delete key 0 is accepted: DELETED');
mem_get_is($sock, 'a', undef, 'delete key 0 removed the key');
is(send_recv($sock, "delete a 0\r\n"), "NOT_FOUND\r\n", 'delete key 0 of a miss: NOT_FOUND');
is(send_recv($sock, "set a 0 0 1\r\nA\r\n"), "STORED\r\n", 'set a again');
is(send_recv($sock, "delete a  0\r\n"), "DELETED\r\n", 'delete key with two spaces before 0: DELETED');
is(send_recv($sock, "set a 0 0 1\r\nA\r\n"), "STORED\r\n", 'set a again');
# memcached 1.6.45 ignores every word after the key (1.6.18 answered
# "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]"
# to all but "0" and "noreply").
is(send_recv($sock, "delete a 1\r\n"), "DELETED\r\n", 'delete key 1: the 1 is ignored');
is(send_recv($sock, "delete a 00\r\n"), "NOT_FOUND\r\n", 'delete key 00: ignored too');
is(send_recv($sock, "set a 0 0 1\r\nA\r\n"), "STORED\r\n", 'set a again');
is(send_recv($sock, "delete a x y z\r\n"), "DELETED\r\n", 'delete key x y z: words ignored');
is(send_recv($sock, "set a 0 0 1\r\nA\r\n"), "STORED\r\n", 'set a again');
is(send_recv($sock, "delete a noreply 0\r\n"), "DELETED\r\n", 'noreply before the 0 is not noreply: the reply is sent');
is(send_recv($sock, "set a 0 0 1\r\nA\r\n"), "STORED\r\n", 'set a again');

# ---- bad command lines ----

is(send_recv($sock, "delete\r\n"), "CLIENT_ERROR bad command line format\r\n", 'delete without a key: CLIENT_ERROR');
is(send_recv($sock, "delete " . ('k' x 251) . "\r\n"), "CLIENT_ERROR bad command line format\r\n",
   'delete with a 251-byte key: CLIENT_ERROR');
my $k250 = 'k' x 250;
is(send_recv($sock, "set $k250 0 0 1\r\nx\r\n"), "STORED\r\n", 'set a 250-byte key');
is(send_recv($sock, "delete $k250\r\n"), "DELETED\r\n", 'delete of a 250-byte key: DELETED');

# ---- noreply ----

print $sock "delete a noreply\r\n";
print $sock "get a\r\n";
is(read_until_end($sock), "END\r\n", 'delete noreply of a hit: no reply, key gone');
print $sock "delete a noreply\r\n";
print $sock "get a\r\n";
is(read_until_end($sock), "END\r\n", 'delete noreply of a miss: no reply');
is(send_recv($sock, "set a 0 0 1\r\nA\r\n"), "STORED\r\n", 'set a again');
print $sock "delete a 0 noreply\r\n";
print $sock "get a\r\n";
is(read_until_end($sock), "END\r\n", 'delete key 0 noreply: no reply, key gone');
is(send_recv($sock, "set a 0 0 1\r\nA\r\n"), "STORED\r\n", 'set a again');
print $sock "delete a 1 noreply\r\n";
print $sock "get a\r\n";
is(read_until_end($sock), "END\r\n", 'delete key 1 noreply: no reply, key gone');

done_testing();
