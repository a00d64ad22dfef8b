#!/usr/bin/perl
# flush_all: immediate, noreply, delayed, bad arguments, and -F which turns
# it off. Checked against memcached 1.6.18; the part where a delayed flush
# comes due runs only on our server (debugtime moves its clock).
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;

my $server = new_memcached();
my $sock = $server->sock;

# ---- immediate ----

is(send_recv($sock, "set a 0 0 1\r\nA\r\n"), "STORED\r\n", 'set a');
is(send_recv($sock, "set b 0 100 1\r\nB\r\n"), "STORED\r\n", 'set b with an exptime');
is(send_recv($sock, "flush_all\r\n"), "OK\r\n", 'flush_all: OK');
print $sock "get a b\r\n";
is(read_until_end($sock), "END\r\n", 'flush_all removed every item');
is(send_recv($sock, "add a 0 0 1\r\nN\r\n"), "STORED\r\n", 'add of a flushed key: STORED');
# Items stored in the same second right after the flush must be visible.
mem_get_is($sock, 'a', 'N', 'an item stored right after flush_all is there');
is(send_recv($sock, "replace b 0 0 1\r\nx\r\n"), "NOT_STORED\r\n", 'replace of a flushed key: NOT_STORED');

print $sock "flush_all noreply\r\n";
print $sock "get a\r\n";
is(read_until_end($sock), "END\r\n", 'flush_all noreply: no reply, items gone');

is(send_recv($sock, "set a 0 0 1\r\nA\r\n"), "STORED\r\n", 'set a');
is(send_recv($sock, "flush_all 0\r\n"), "OK\r\n", 'flush_all 0: OK');
mem_get_is($sock, 'a', undef, 'flush_all 0 is immediate');

is(send_recv($sock, "set a 0 0 1\r\nA\r\n"), "STORED\r\n", 'set a');
is(send_recv($sock, "flush_all -1\r\n"), "OK\r\n", 'flush_all -1: OK');
mem_get_is($sock, 'a', undef, 'flush_all with a negative delay is immediate');

is(send_recv($sock, "set a 0 0 1\r\nA\r\n"), "STORED\r\n", 'set a');
print $sock "flush_all 0 noreply\r\n";
print $sock "get a\r\n";
is(read_until_end($sock), "END\r\n", 'flush_all 0 noreply: no reply, items gone');

is(send_recv($sock, "set a 0 0 1\r\nA\r\n"), "STORED\r\n", 'set a');
is(send_recv($sock, "flush_all 0 junk\r\n"), "OK\r\n", 'flush_all 0 junk: the extra token is ignored');
mem_get_is($sock, 'a', undef, 'flush_all 0 junk flushed');

# ---- bad arguments ----

is(send_recv($sock, "set a 0 0 1\r\nA\r\n"), "STORED\r\n", 'set a');
is(send_recv($sock, "flush_all abc\r\n"), "CLIENT_ERROR invalid exptime argument\r\n",
   'flush_all abc: CLIENT_ERROR');
is(send_recv($sock, "flush_all 0x10\r\n"), "CLIENT_ERROR invalid exptime argument\r\n",
   'flush_all 0x10: CLIENT_ERROR');
is(send_recv($sock, "flush_all 1.5\r\n"), "CLIENT_ERROR invalid exptime argument\r\n",
   'flush_all 1.5: CLIENT_ERROR');
is(send_recv($sock, "flush_all noreply 0\r\n"), "CLIENT_ERROR invalid exptime argument\r\n",
   'flush_all noreply 0: noreply is only recognised last, so it is a bad delay');
is(send_recv($sock, "flush_all +0\r\n"), "CLIENT_ERROR invalid exptime argument\r\n",
   'flush_all +0: CLIENT_ERROR (1.6.45 reads the delay strictly)');
mem_get_is($sock, 'a', 'A', 'the rejected flushes left the items alone');
print $sock "flush_all abc noreply\r\n";
print $sock "get a\r\n";
is(read_until_end($sock), "VALUE a 0 1\r\nA\r\nEND\r\n", 'flush_all abc noreply: error hidden, items kept');
# memcached 1.6.45 reads the delay and ignores the words after it.
is(send_recv($sock, "flush_all 0 0 0\r\n"), "OK\r\n", 'flush_all with three arguments: OK');
mem_get_is($sock, 'a', undef, 'flush_all 0 0 0 flushed');
is(send_recv($sock, "set a 0 0 1\r\nA\r\n"), "STORED\r\n", 'set a');

# ---- delayed ----
# A fresh server, so that the pending flush cannot touch the tests above.

{
    my $srv = new_memcached();
    my $s = $srv->sock;
    is(send_recv($s, "set before 0 0 1\r\nb\r\n"), "STORED\r\n", 'set before');
    is(send_recv($s, "flush_all 100\r\n"), "OK\r\n", 'flush_all 100: OK');
    mem_get_is($s, 'before', 'b', 'right after flush_all 100 the item is still there');
    is(send_recv($s, "set after 0 0 1\r\na\r\n"), "STORED\r\n", 'set after, while the flush is pending');
    mem_get_is($s, 'after', 'a', 'item stored while the flush is pending is there');
    print $s "flush_all 200 noreply\r\n";
    print $s "get before\r\n";
    is(read_until_end($s), "VALUE before 0 1\r\nb\r\nEND\r\n", 'flush_all 200 noreply: no reply, items still there');

    if (is_ours()) {
        # The later flush_all 200 replaced the 100s one.
        is(send_recv($s, "debugtime 101\r\n"), "OK\r\n", 'clock +101s');
        print $s "get before after\r\n";
        is(read_until_end($s), "VALUE before 0 1\r\nb\r\nVALUE after 0 1\r\na\r\nEND\r\n",
           'flush_all 200 replaced flush_all 100: items there at 101s');
        is(send_recv($s, "debugtime 100\r\n"), "OK\r\n", 'clock +100s (201s in all)');
        print $s "get before after\r\n";
        is(read_until_end($s), "END\r\n", 'the delayed flush came due: items stored before it are gone');
        is(send_recv($s, "set later 0 0 1\r\nl\r\n"), "STORED\r\n", 'set later, after the flush came due');
        mem_get_is($s, 'later', 'l', 'an item stored after the delayed flush is there');

        is(send_recv($s, "flush_all 50\r\n"), "OK\r\n", 'flush_all 50');
        is(send_recv($s, "set mid 0 0 1\r\nm\r\n"), "STORED\r\n", 'set mid while flush_all 50 is pending');
        is(send_recv($s, "debugtime 51\r\n"), "OK\r\n", 'clock +51s');
        print $s "get later mid\r\n";
        is(read_until_end($s), "END\r\n", 'flush_all 50 came due: items stored before and while pending are gone');
    }
}

# ---- -F: flush_all disabled ----

{
    my $srv = new_memcached('-F');
    my $s = $srv->sock;
    my $denied = "CLIENT_ERROR flush_all not allowed\r\n";
    is(send_recv($s, "set a 0 0 1\r\nA\r\n"), "STORED\r\n", '-F: set a');
    is(send_recv($s, "flush_all\r\n"), $denied, '-F: flush_all not allowed');
    is(send_recv($s, "flush_all 0\r\n"), $denied, '-F: flush_all 0 not allowed');
    is(send_recv($s, "flush_all 100\r\n"), $denied, '-F: flush_all 100 not allowed');
    is(send_recv($s, "flush_all abc\r\n"), $denied, '-F: flush_all abc is refused before its argument is read');
    print $s "flush_all noreply\r\n";
    print $s "get a\r\n";
    is(read_until_end($s), "VALUE a 0 1\r\nA\r\nEND\r\n", '-F: flush_all noreply sends nothing and flushes nothing');
}

done_testing();
