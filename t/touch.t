#!/usr/bin/perl
# touch: TOUCHED / NOT_FOUND, bad exptimes, noreply; the effect of the new
# exptime is checked with a negative exptime here and with debugtime on our
# server. Checked against memcached 1.6.18.
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

is(send_recv($sock, "set a 7 0 3\r\nabc\r\n"), "STORED\r\n", 'set a');
my $cas = gets_cas($sock, 'a');
is(send_recv($sock, "touch a 100\r\n"), "TOUCHED\r\n", 'touch of a hit: TOUCHED');
print $sock "gets a\r\n";
is(read_until_end($sock), "VALUE a 7 3 $cas\r\nabc\r\nEND\r\n", 'touch kept value, flags and cas unique');
is(send_recv($sock, "touch nope 100\r\n"), "NOT_FOUND\r\n", 'touch of a miss: NOT_FOUND');
mem_get_is($sock, 'nope', undef, 'touch did not create the key');
is(send_recv($sock, "touch a 0\r\n"), "TOUCHED\r\n", 'touch with exptime 0: TOUCHED');
is(send_recv($sock, "touch a 100 junk\r\n"), "TOUCHED\r\n", 'an extra token that is not noreply is ignored');

# A negative exptime expires the item at once.
is(send_recv($sock, "set b 0 0 1\r\nB\r\n"), "STORED\r\n", 'set b');
is(send_recv($sock, "touch b -1\r\n"), "TOUCHED\r\n", 'touch b -1: TOUCHED');
mem_get_is($sock, 'b', undef, 'touch -1 expired the item');
is(send_recv($sock, "touch b 100\r\n"), "NOT_FOUND\r\n", 'touch of the expired item: NOT_FOUND');

# ---- bad command lines ----

is(send_recv($sock, "touch a abc\r\n"), "CLIENT_ERROR invalid exptime argument\r\n",
   'touch with a non-numeric exptime: CLIENT_ERROR');
is(send_recv($sock, "touch a 1.5\r\n"), "CLIENT_ERROR invalid exptime argument\r\n",
   'touch with a fractional exptime: CLIENT_ERROR');
is(send_recv($sock, "touch a\r\n"), "CLIENT_ERROR bad command line format\r\n", 'touch without an exptime: CLIENT_ERROR (1.6.45)');
is(send_recv($sock, "touch\r\n"), "CLIENT_ERROR bad command line format\r\n", 'bare touch: CLIENT_ERROR');
is(send_recv($sock, "touch " . ('k' x 251) . " 10\r\n"), "CLIENT_ERROR bad command line format\r\n",
   'touch with a 251-byte key: CLIENT_ERROR');
mem_get_is($sock, 'a', 'abc', 'the rejected touches left the item alone', 7);

# ---- noreply ----

print $sock "touch a 100 noreply\r\n";
print $sock "get a\r\n";
is(read_until_end($sock), "VALUE a 7 3\r\nabc\r\nEND\r\n", 'touch noreply of a hit: no reply');
print $sock "touch nope 100 noreply\r\n";
print $sock "get a\r\n";
is(read_until_end($sock), "VALUE a 7 3\r\nabc\r\nEND\r\n", 'touch noreply of a miss: no reply');
print $sock "touch a abc noreply\r\n";
print $sock "get a\r\n";
is(read_until_end($sock), "VALUE a 7 3\r\nabc\r\nEND\r\n", 'touch noreply with a bad exptime: error hidden');
print $sock "touch a -1 noreply\r\n";
print $sock "get a\r\n";
is(read_until_end($sock), "END\r\n", 'touch -1 noreply: no reply, item expired');

# ---- what needs time to pass (our server only: debugtime shifts its clock) ----

if (is_ours()) {
    is(send_recv($sock, "set short 0 0 1\r\ns\r\n"), "STORED\r\n", 'set short without exptime');
    is(send_recv($sock, "set long 0 50 1\r\nl\r\n"), "STORED\r\n", 'set long with exptime 50');
    is(send_recv($sock, "set never 0 50 1\r\nn\r\n"), "STORED\r\n", 'set never with exptime 50');
    is(send_recv($sock, "touch short 100\r\n"), "TOUCHED\r\n", 'touch short 100');
    is(send_recv($sock, "touch long 200\r\n"), "TOUCHED\r\n", 'touch long 200');
    is(send_recv($sock, "touch never 0\r\n"), "TOUCHED\r\n", 'touch never 0');
    is(send_recv($sock, "debugtime 60\r\n"), "OK\r\n", 'clock +60s');
    mem_get_is($sock, 'long', 'l', 'touch 200 outlived the original exptime 50');
    mem_get_is($sock, 'never', 'n', 'touch 0 took the exptime away');
    mem_get_is($sock, 'short', 's', 'touched item alive 60s into its 100s');
    is(send_recv($sock, "debugtime 41\r\n"), "OK\r\n", 'clock +41s (101s in all)');
    mem_get_is($sock, 'short', undef, 'touch 100 gave the item a 100s life: expired');
    mem_get_is($sock, 'long', 'l', 'touch 200 item alive at 101s');
    is(send_recv($sock, "debugtime 100\r\n"), "OK\r\n", 'clock +100s (201s in all)');
    mem_get_is($sock, 'long', undef, 'touch 200 item expired at 201s');
    mem_get_is($sock, 'never', 'n', 'touch 0 item still there at 201s');
    is(send_recv($sock, "touch long 100\r\n"), "NOT_FOUND\r\n", 'touch of an expired item: NOT_FOUND');
}

done_testing();
