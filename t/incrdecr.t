#!/usr/bin/perl
# incr and decr: arithmetic, 64-bit wrap, the floor at 0, errors, and what
# the stored value looks like afterwards (memcached pads a shrinking number
# with spaces instead of shortening the item). Checked against memcached
# 1.6.18.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;

# Reads the cas unique of `key` from a one-key gets (undef on a miss).
sub gets_cas {
    my ($sock, $key) = @_;
    print $sock "gets $key\r\n";
    my $reply = read_until_end($sock);
    return $reply =~ /^VALUE \Q$key\E \d+ \d+ (\d+)\r\n/ ? $1 : undef;
}

my $server = new_memcached();
my $sock = $server->sock;

# ---- arithmetic ----

is(send_recv($sock, "set n 0 0 1\r\n5\r\n"), "STORED\r\n", 'set n to 5');
is(send_recv($sock, "incr n 10\r\n"), "15\r\n", 'incr 5 by 10: 15');
is(send_recv($sock, "decr n 3\r\n"), "12\r\n", 'decr 15 by 3: 12');
mem_get_is($sock, 'n', '12', 'get shows 12');
is(send_recv($sock, "incr n 0\r\n"), "12\r\n", 'incr by 0: 12');
is(send_recv($sock, "incr n +1\r\n"), "CLIENT_ERROR invalid numeric delta argument\r\n",
   'delta with a leading +: refused (1.6.45 reads digits only)');
is(send_recv($sock, "incr n 01\r\n"), "13\r\n", 'delta with a leading 0: accepted');
is(send_recv($sock, "incr n 1\r\n"), "14\r\n", 'incr n 1');

# ---- decr floor ----

is(send_recv($sock, "decr n 100\r\n"), "0\r\n", 'decr below zero stops at 0');
print $sock "get n\r\n";
is(read_until_end($sock), "VALUE n 0 2\r\n0 \r\nEND\r\n", 'the 2-byte item now holds "0 " (space padded)');
is(send_recv($sock, "decr n 1\r\n"), "0\r\n", 'decr of 0: stays 0');

# ---- 64-bit wrap ----

is(send_recv($sock, "set big 0 0 20\r\n18446744073709551615\r\n"), "STORED\r\n", 'set big to 2^64-1');
is(send_recv($sock, "incr big 1\r\n"), "0\r\n", 'incr 2^64-1 by 1 wraps to 0');
print $sock "get big\r\n";
is(read_until_end($sock), "VALUE big 0 20\r\n0                   \r\nEND\r\n",
   'the wrapped value is "0" padded with 19 spaces');
is(send_recv($sock, "set big 0 0 20\r\n18446744073709551615\r\n"), "STORED\r\n", 'set big to 2^64-1 again');
is(send_recv($sock, "incr big 2\r\n"), "1\r\n", 'incr 2^64-1 by 2 wraps to 1');
is(send_recv($sock, "incr big 18446744073709551615\r\n"), "0\r\n", 'incr 1 by 2^64-1 wraps to 0');
is(send_recv($sock, "incr big 18446744073709551615\r\n"), "18446744073709551615\r\n",
   'the largest delta is accepted');
is(send_recv($sock, "incr big 18446744073709551616\r\n"), "CLIENT_ERROR invalid numeric delta argument\r\n",
   'delta 2^64: invalid');

# ---- length changes ----
# memcached rewrites the number in place (padding with spaces) only while
# no one else holds the item. From an item's second fetch on, memcached's
# LRU maintainer may briefly hold it (an async bump) and the incr/decr then
# stores a fresh item of the exact length instead. So every item below is
# fetched at most once before an incr/decr whose stored bytes are checked.
# Our server must always pad when the new number fits.

is(send_recv($sock, "set grow 5 0 2\r\n99\r\n"), "STORED\r\n", 'set grow to 99 with flags 5');
my $cas0 = gets_cas($sock, 'grow');
is(send_recv($sock, "incr grow 1\r\n"), "100\r\n", 'incr 99 by 1: 100');
print $sock "gets grow\r\n";
my $got = read_until_end($sock);
my ($cas1) = $got =~ /^VALUE grow \d+ \d+ (\d+)\r\n/;
is($got, "VALUE grow 5 3 " . ($cas1 // 'none') . "\r\n100\r\nEND\r\n", 'the item grew to 3 bytes and kept flags 5');
is(send_recv($sock, "decr grow 1\r\n"), "99\r\n", 'decr 100 by 1: 99');
print $sock "gets grow\r\n";
$got = read_until_end($sock);
my ($cas2) = $got =~ /^VALUE grow \d+ \d+ (\d+)\r\n/;
is($got, "VALUE grow 5 3 " . ($cas2 // 'none') . "\r\n99 \r\nEND\r\n", 'the item stays 3 bytes: "99 "');
is(send_recv($sock, "incr grow 0\r\n"), "99\r\n", 'incr 99 by 0');
my $cas3 = gets_cas($sock, 'grow');
is(($cas1 > $cas0 && $cas2 > $cas1 && $cas3 > $cas2) ? 1 : 0, 1,
   'each incr/decr (even by 0) gives a new, larger cas unique');
is(send_recv($sock, "incr grow 901\r\n"), "1000\r\n", 'incr 99 by 901: 1000');
print $sock "get grow\r\n";
is(read_until_end($sock), "VALUE grow 5 4\r\n1000\r\nEND\r\n", 'the item grew to 4 bytes');

is(send_recv($sock, "set zeros 0 0 5\r\n00007\r\n"), "STORED\r\n", 'set zeros to 00007');
is(send_recv($sock, "incr zeros 1\r\n"), "8\r\n", 'incr 00007 by 1: 8');
print $sock "get zeros\r\n";
is(read_until_end($sock), "VALUE zeros 0 5\r\n8    \r\nEND\r\n", 'leading zeros gone, padded to 5 bytes');

is(send_recv($sock, "set sp 0 0 2\r\n 5\r\n"), "STORED\r\n", 'set sp to " 5"');
is(send_recv($sock, "incr sp 1\r\n"), "6\r\n", 'a leading space is accepted: 6');
print $sock "get sp\r\n";
is(read_until_end($sock), "VALUE sp 0 2\r\n6 \r\nEND\r\n", 'sp now "6 "');

# ---- misses ----

is(send_recv($sock, "incr nope 1\r\n"), "NOT_FOUND\r\n", 'incr of a missing key: NOT_FOUND');
is(send_recv($sock, "decr nope 1\r\n"), "NOT_FOUND\r\n", 'decr of a missing key: NOT_FOUND');
mem_get_is($sock, 'nope', undef, 'incr/decr did not create the key');

# ---- non-numeric values ----

my $nonnum = "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";
is(send_recv($sock, "set s 0 0 3\r\nabc\r\n"), "STORED\r\n", 'set s to abc');
is(send_recv($sock, "incr s 1\r\n"), $nonnum, 'incr of "abc": non-numeric');
is(send_recv($sock, "decr s 1\r\n"), $nonnum, 'decr of "abc": non-numeric');
mem_get_is($sock, 's', 'abc', 'the non-numeric value is unchanged');
is(send_recv($sock, "set s 0 0 0\r\n\r\n"), "STORED\r\n", 'set s to the empty value');
is(send_recv($sock, "incr s 1\r\n"), $nonnum, 'incr of an empty value: non-numeric');
is(send_recv($sock, "set s 0 0 2\r\n-5\r\n"), "STORED\r\n", 'set s to -5');
is(send_recv($sock, "incr s 1\r\n"), $nonnum, 'incr of "-5": non-numeric');
is(send_recv($sock, "set s 0 0 2\r\n5a\r\n"), "STORED\r\n", 'set s to 5a');
is(send_recv($sock, "incr s 1\r\n"), $nonnum, 'incr of "5a": non-numeric');
is(send_recv($sock, "set s 0 0 20\r\n18446744073709551616\r\n"), "STORED\r\n", 'set s to 2^64');
is(send_recv($sock, "incr s 1\r\n"), $nonnum, 'incr of a value above 2^64-1: non-numeric');

# ---- invalid deltas ----

my $baddelta = "CLIENT_ERROR invalid numeric delta argument\r\n";
is(send_recv($sock, "incr n abc\r\n"), $baddelta, 'incr by "abc": invalid delta');
is(send_recv($sock, "incr n -1\r\n"), $baddelta, 'incr by -1: invalid delta');
is(send_recv($sock, "decr n -1\r\n"), $baddelta, 'decr by -1: invalid delta');
is(send_recv($sock, "decr n 0x1\r\n"), $baddelta, 'decr by 0x1: invalid delta');
is(send_recv($sock, "incr nope abc\r\n"), $baddelta, 'invalid delta is reported before the key lookup');
is(send_recv($sock, "incr s abc\r\n"), $baddelta, 'invalid delta is reported before the non-numeric check');

# ---- command line shape ----

is(send_recv($sock, "incr n\r\n"), "CLIENT_ERROR bad command line format\r\n", 'incr without a delta: CLIENT_ERROR');
is(send_recv($sock, "decr\r\n"), "CLIENT_ERROR bad command line format\r\n", 'bare decr: CLIENT_ERROR');
is(send_recv($sock, "incr n 1 2\r\n"), "1\r\n", 'an extra token that is not noreply is ignored');
is(send_recv($sock, "incr " . ('k' x 251) . " 1\r\n"), "CLIENT_ERROR bad command line format\r\n",
   'incr with a 251-byte key: CLIENT_ERROR');

# ---- noreply ----

is(send_recv($sock, "set q 3 0 1\r\n1\r\n"), "STORED\r\n", 'set q to 1 with flags 3');
print $sock "incr q 9 noreply\r\n";
print $sock "get q\r\n";
is(read_until_end($sock), "VALUE q 3 2\r\n10\r\nEND\r\n", 'incr noreply sent nothing and stored 10');
print $sock "decr q 3 noreply\r\n";
print $sock "get q\r\n";
is(read_until_end($sock), "VALUE q 3 2\r\n7 \r\nEND\r\n", 'decr noreply sent nothing and stored "7 "');
print $sock "incr nope 1 noreply\r\n";
print $sock "decr nope 1 noreply\r\n";
print $sock "incr s 1 noreply\r\n";
print $sock "incr q abc noreply\r\n";
print $sock "get q\r\n";
is(read_until_end($sock), "VALUE q 3 2\r\n7 \r\nEND\r\n",
   'noreply also hides NOT_FOUND, non-numeric and invalid-delta errors');

done_testing();
