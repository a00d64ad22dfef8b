#!/usr/bin/perl
# noreply: every storage, arithmetic, delete, touch and flush_all command
# with noreply sends nothing, whatever its outcome. Each one is followed by
# a command that does answer, and the very next bytes on the wire must be
# that answer. Checked against memcached 1.6.18.
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

# Sends a noreply request, then `get key`, and returns what came back.
sub quiet_then_get {
    my ($req, $key) = @_;
    print $sock $req;
    print $sock "get $key\r\n";
    return read_until_end($sock);
}

# ---- storage ----

is(quiet_then_get("set a 1 0 1 noreply\r\nA\r\n", 'a'), "VALUE a 1 1\r\nA\r\nEND\r\n",
   'set noreply: nothing sent, stored');
is(quiet_then_get("add a 2 0 1 noreply\r\nX\r\n", 'a'), "VALUE a 1 1\r\nA\r\nEND\r\n",
   'add noreply of an existing key (NOT_STORED): nothing sent');
is(quiet_then_get("add b 2 0 1 noreply\r\nB\r\n", 'b'), "VALUE b 2 1\r\nB\r\nEND\r\n",
   'add noreply of a new key (STORED): nothing sent');
is(quiet_then_get("replace c 0 0 1 noreply\r\nC\r\n", 'c'), "END\r\n",
   'replace noreply of a missing key (NOT_STORED): nothing sent');
is(quiet_then_get("replace a 3 0 1 noreply\r\n1\r\n", 'a'), "VALUE a 3 1\r\n1\r\nEND\r\n",
   'replace noreply of an existing key (STORED): nothing sent');
is(quiet_then_get("append a 0 0 1 noreply\r\n2\r\n", 'a'), "VALUE a 3 2\r\n12\r\nEND\r\n",
   'append noreply (STORED): nothing sent');
is(quiet_then_get("prepend a 0 0 1 noreply\r\n0\r\n", 'a'), "VALUE a 3 3\r\n012\r\nEND\r\n",
   'prepend noreply (STORED): nothing sent');
is(quiet_then_get("append c 0 0 1 noreply\r\n2\r\n", 'c'), "END\r\n",
   'append noreply to a missing key (NOT_STORED): nothing sent');
is(quiet_then_get("prepend c 0 0 1 noreply\r\n2\r\n", 'c'), "END\r\n",
   'prepend noreply to a missing key (NOT_STORED): nothing sent');

# ---- cas ----

my $unique = gets_cas($sock, 'a');
is(quiet_then_get("cas c 0 0 1 1 noreply\r\nX\r\n", 'c'), "END\r\n",
   'cas noreply on a missing key (NOT_FOUND): nothing sent');
is(quiet_then_get("cas a 0 0 1 0 noreply\r\nX\r\n", 'a'), "VALUE a 3 3\r\n012\r\nEND\r\n",
   'cas noreply with a wrong unique (EXISTS): nothing sent');
is(quiet_then_get("cas a 4 0 2 $unique noreply\r\n42\r\n", 'a'), "VALUE a 4 2\r\n42\r\nEND\r\n",
   'cas noreply with the right unique (STORED): nothing sent');
is(quiet_then_get("cas a 0 0 1 $unique noreply\r\nX\r\n", 'a'), "VALUE a 4 2\r\n42\r\nEND\r\n",
   'cas noreply with the now stale unique (EXISTS): nothing sent');

# ---- incr / decr ----

is(send_recv($sock, "set n 4 0 2\r\n42\r\n"), "STORED\r\n", 'set n to 42');
is(quiet_then_get("incr n 1 noreply\r\n", 'n'), "VALUE n 4 2\r\n43\r\nEND\r\n", 'incr noreply: nothing sent');
is(quiet_then_get("decr n 3 noreply\r\n", 'n'), "VALUE n 4 2\r\n40\r\nEND\r\n", 'decr noreply: nothing sent');
is(quiet_then_get("incr c 1 noreply\r\n", 'c'), "END\r\n", 'incr noreply of a missing key (NOT_FOUND): nothing sent');
is(quiet_then_get("decr c 1 noreply\r\n", 'c'), "END\r\n", 'decr noreply of a missing key (NOT_FOUND): nothing sent');
is(quiet_then_get("incr b 1 noreply\r\n", 'b'), "VALUE b 2 1\r\nB\r\nEND\r\n",
   'incr noreply of a non-numeric value: the CLIENT_ERROR is not sent');
is(quiet_then_get("incr n x noreply\r\n", 'n'), "VALUE n 4 2\r\n40\r\nEND\r\n",
   'incr noreply with an invalid delta: the CLIENT_ERROR is not sent');

# ---- touch / delete ----

is(quiet_then_get("touch a 0 noreply\r\n", 'a'), "VALUE a 4 2\r\n42\r\nEND\r\n", 'touch noreply (TOUCHED): nothing sent');
is(quiet_then_get("touch c 0 noreply\r\n", 'c'), "END\r\n", 'touch noreply of a missing key (NOT_FOUND): nothing sent');
is(quiet_then_get("delete a noreply\r\n", 'a'), "END\r\n", 'delete noreply (DELETED): nothing sent, key gone');
is(quiet_then_get("delete a noreply\r\n", 'a'), "END\r\n", 'delete noreply of a missing key (NOT_FOUND): nothing sent');

# ---- flush_all ----

is(quiet_then_get("flush_all noreply\r\n", 'b'), "END\r\n", 'flush_all noreply: nothing sent, items gone');
is(send_recv($sock, "set b 0 0 1\r\nB\r\n"), "STORED\r\n", 'set b again');
is(quiet_then_get("flush_all 0 noreply\r\n", 'b'), "END\r\n", 'flush_all 0 noreply: nothing sent, items gone');

# ---- a pipeline of quiet commands ----

print $sock "set p 0 0 1 noreply\r\n1\r\n"
          . "append p 0 0 1 noreply\r\n0\r\n"
          . "incr p 5 noreply\r\n"
          . "add p 0 0 1 noreply\r\nX\r\n"
          . "touch p 0 noreply\r\n"
          . "delete nope noreply\r\n"
          . "get p\r\n";
is(read_until_end($sock), "VALUE p 0 2\r\n15\r\nEND\r\n", 'seven pipelined requests, six quiet: only the get answers');

# ---- what noreply does to errors ----

# A bad command line with noreply: its error is not sent; as memcached
# 1.6.45, the data line that follows is swallowed once the length is read.
print $sock "set e -1 0 1 noreply\r\nx\r\n";
is(send_recv($sock, "version\r\n") =~ /^VERSION / ? 1 : 0, 1,
   'set noreply with bad flags: CLIENT_ERROR hidden, data line swallowed');
# Data longer than announced: bad data chunk is hidden, the leftover LF is
# a line too short to be a command.
print $sock "set e 0 0 1 noreply\r\nxy\r\n";
is(scalar <$sock>, "CLIENT_ERROR bad command line format\r\n",
   'set noreply with a bad data chunk: CLIENT_ERROR hidden, leftover LF answers CLIENT_ERROR');
mem_get_is($sock, 'e', undef, 'neither bad set stored anything');
# noreply must be spelled in lower case and be the last token.
is(send_recv($sock, "set e 0 0 1 NOREPLY\r\nA\r\n"), "STORED\r\n", 'NOREPLY in capitals is not noreply: STORED sent');
# memcached 1.6.45 ignores the words after the length.
is(send_recv($sock, "set e 0 0 1 noreply x\r\nA\r\n"), "STORED\r\n",
   'set with a token after noreply: not noreply, STORED');
# A command without a noreply form answers as usual after a quiet one.
print $sock "touch e 0 noreply\r\n";
is(send_recv($sock, "gat 0 nope\r\n"), "END\r\n", 'gat after a quiet touch: its END is the next line');

# A too-large value with noreply: SERVER_ERROR hidden, data swallowed.
{
    my $srv = new_memcached('-I 512k');
    my $s = $srv->sock;
    is(send_recv($s, "set big 0 0 3\r\nold\r\n"), "STORED\r\n", '-I 512k: set big');
    print $s "set big 0 0 600000 noreply\r\n" . ('x' x 600000) . "\r\n";
    print $s "get big\r\n";
    is(read_until_end($s), "END\r\n", 'too-large set noreply: nothing sent, data swallowed, old value removed');
}

done_testing();
