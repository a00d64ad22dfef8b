#!/usr/bin/perl
# Expiry times: 0 never expires, up to 30 days (2592000) is relative, above
# that an absolute unix time, negative means already expired; touch and gat
# replace the expiry time; flush_all with a delay flushes at its deadline.
# The clock is moved with the debug command `debugtime <seconds>`; margins of
# tens of seconds keep the real passing time out of every result. The same
# sequence was checked against memcached 1.6 with real sleeps.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;

require_debug_binary();

my $server = new_memcached();
my $sock = $server->sock;
my $shift = 0;      # seconds the server clock is ahead of ours

# Moves the server clock forward and keeps track of the total shift.
sub advance {
    my $secs = shift;
    $shift += $secs;
    is(send_recv($sock, "debugtime $secs\r\n"), "OK\r\n", "debugtime $secs");
}

# The server's idea of the current unix time, for absolute exptimes.
sub server_now { return int(time()) + $shift }

sub set_is {
    my ($key, $exptime, $val, $msg) = @_;
    print $sock "set $key 0 $exptime " . length($val) . "\r\n$val\r\n";
    is(scalar <$sock>, "STORED\r\n", $msg // "set $key with exptime $exptime");
}

# ---- exptime 0 (checked after 1100 s, and after 10**8 s at the end) ----

set_is('forever', 0, 'f');

# ---- relative ----

set_is('rel', 100, 'r');
mem_get_is($sock, 'rel', 'r', 'relative 100: present at once');
advance(50);
mem_get_is($sock, 'rel', 'r', 'relative 100: present after 50 s');
advance(50);
mem_get_is($sock, 'rel', undef, 'relative 100: gone after exactly 100 s');

# ---- absolute (above 30 days) ----

my $abs = server_now() + 100;
set_is('abs', $abs, 'a', 'set with absolute exptime now+100');
mem_get_is($sock, 'abs', 'a', 'absolute now+100: present at once');
advance(50);
mem_get_is($sock, 'abs', 'a', 'absolute now+100: present after 50 s');
advance(60);
mem_get_is($sock, 'abs', undef, 'absolute now+100: gone after 110 s');

set_is('past', server_now() - 100, 'p', 'set with absolute exptime now-100');
mem_get_is($sock, 'past', undef, 'absolute time in the past: gone at once');
set_is('epoch', 2592001, 'e', 'set with exptime 2592001 (1970, absolute)');
mem_get_is($sock, 'epoch', undef, 'exptime 2592001 is an absolute past time');

# ---- negative ----

set_is('neg', -1, 'n', 'set with exptime -1');
mem_get_is($sock, 'neg', undef, 'exptime -1: never retrievable');
set_is('over', 0, 'old');
set_is('over', -1, 'new', 'set over an existing key with exptime -1');
mem_get_is($sock, 'over', undef, 'exptime -1 replaced and hid the old value');
print $sock "add over 0 0 3\r\nadd\r\n";
is(scalar <$sock>, "STORED\r\n", 'add succeeds on an expired key');
mem_get_is($sock, 'over', 'add', 'added value present');

# ---- touch ----

set_is('t', 100, 't');
is(send_recv($sock, "touch t 1000\r\n"), "TOUCHED\r\n", 'touch t 1000');
set_is('t0', 100, 't');
is(send_recv($sock, "touch t0 0\r\n"), "TOUCHED\r\n", 'touch t0 0');
set_is('tshort', 0, 't');
is(send_recv($sock, "touch tshort 100\r\n"), "TOUCHED\r\n", 'touch tshort 100');
set_is('tneg', 0, 't');
is(send_recv($sock, "touch tneg -1\r\n"), "TOUCHED\r\n", 'touch tneg -1');
mem_get_is($sock, 'tneg', undef, 'touch -1 expires the item at once');
is(send_recv($sock, "touch nokey 100\r\n"), "NOT_FOUND\r\n", 'touch of a missing key');

# ---- gat / gats ----

set_is('g', 100, 'g');
print $sock "gat 1000 g\r\n";
is(read_until_end($sock), "VALUE g 0 1\r\ng\r\nEND\r\n", 'gat 1000 g');
set_is('gshort', 0, 'g');
print $sock "gat 100 gshort\r\n";
is(read_until_end($sock), "VALUE gshort 0 1\r\ng\r\nEND\r\n", 'gat 100 gshort');
set_is('gs', 100, 'g');
print $sock "gets gs\r\n";
my ($cas) = read_until_end($sock) =~ /^VALUE gs 0 1 (\d+)\r\n/;
print $sock "gats 1000 gs\r\n";
is(read_until_end($sock), "VALUE gs 0 1 " . ($cas // 'none') . "\r\ng\r\nEND\r\n",
   'gats 1000 gs returns the unchanged cas');
set_is('gneg', 0, 'g');
print $sock "gat -1 gneg\r\n";
is(read_until_end($sock), "VALUE gneg 0 1\r\ng\r\nEND\r\n",
   'gat -1 still returns the value');
mem_get_is($sock, 'gneg', undef, 'gat -1 expired the item');

advance(500);
mem_get_is($sock, 't', 't', 'touched to 1000: present after 500 s');
mem_get_is($sock, 'g', 'g', 'gat to 1000: present after 500 s');
mem_get_is($sock, 'gs', 'g', 'gats to 1000: present after 500 s');
mem_get_is($sock, 'tshort', undef, 'touch 100 on an exptime-0 item: gone after 500 s');
mem_get_is($sock, 'gshort', undef, 'gat 100 on an exptime-0 item: gone after 500 s');
advance(600);
mem_get_is($sock, 't', undef, 'touched to 1000: gone after 1100 s');
mem_get_is($sock, 'g', undef, 'gat to 1000: gone after 1100 s');
mem_get_is($sock, 'gs', undef, 'gats to 1000: gone after 1100 s');
mem_get_is($sock, 't0', 't', 'touch 0 removed the expiry');
mem_get_is($sock, 'forever', 'f', 'exptime 0: present after 1100 s');

# ---- flush_all with a delay ----

set_is('f1', 0, 'x');
set_is('f2', 1000, 'y');
is(send_recv($sock, "flush_all 100\r\n"), "OK\r\n", 'flush_all 100');
mem_get_is($sock, 'f1', 'x', 'delayed flush: present at once');
advance(50);
set_is('f3', 0, 'z', 'set after flush_all, before its deadline');
mem_get_is($sock, 'f1', 'x', 'delayed flush: present after 50 s');
mem_get_is($sock, 'f3', 'z', 'item set before the deadline: present for now');
advance(60);
mem_get_is($sock, 'f1', undef, 'delayed flush: gone after 110 s');
mem_get_is($sock, 'f2', undef, 'delayed flush also removes items with an exptime');
mem_get_is($sock, 'f3', undef, 'delayed flush removes items set before the deadline');
mem_get_is($sock, 't0', undef, 'delayed flush removes every older item');
set_is('f4', 0, 'w', 'set after the flush deadline');
mem_get_is($sock, 'f4', 'w', 'item set after the deadline survives');
advance(1000);
mem_get_is($sock, 'f4', 'w', 'and is not flushed later');

# ---- 2592000 (30 days) is still relative ----

set_is('month', 2592000, 'm');
advance(2_500_000);
mem_get_is($sock, 'month', 'm', 'exptime 2592000: present after 2500000 s');
advance(92_000);
mem_get_is($sock, 'month', undef, 'exptime 2592000: gone after 2592000 s');

# ---- exptime 0 never expires ----

set_is('forever2', 0, 'f');
advance(100_000_000);
mem_get_is($sock, 'forever2', 'f', 'exptime 0: present after 100000000 s');
mem_get_is($sock, 'forever', undef, 'first exptime-0 item was flushed by flush_all');

done_testing();
