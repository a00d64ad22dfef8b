#!/usr/bin/perl
# Error replies of the text protocol, byte for byte as memcached 1.6 sends
# them, and how the connection resynchronises afterwards: which following
# bytes are swallowed, which are parsed as the next command, and that the
# connection and the stored data survive every error except an overlong line.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;

# Sends a request followed by "version\r\n" and returns everything the
# server answers before the VERSION line: exactly the request's reply. The
# marker keeps one wrong reply from shifting every later check, and 5 s of
# silence ends the wait so a missing reply fails instead of hanging.
sub reply_to {
    my ($sock, $req) = @_;
    print $sock $req . "version\r\n";
    my $out = '';
    eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 5;
        while (defined(my $line = <$sock>)) {
            last if $line =~ /^VERSION /;
            $out .= $line;
        }
        alarm 0;
    };
    alarm 0;
    return $out;
}

# True if the server closes the connection (EOF or reset) within 5 s.
sub closed {
    my $sock = shift;
    my ($n, $buf) = (1, '');
    eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 5;
        $n = sysread($sock, $buf, 1);
        alarm 0;
    };
    alarm 0;
    return !$n ? 1 : 0;
}

my $server = new_memcached();
my $sock = $server->sock;
my $long = 'k' x 251;
my $max = 'm' x 250;

is(reply_to($sock, "set keep 0 0 4\r\nsafe\r\n"), "STORED\r\n", 'stored keep');

# ---- unknown commands and empty lines ----

is(reply_to($sock, "bogus\r\n"), "ERROR\r\n", 'unknown command');
is(reply_to($sock, "bogus with some args\r\n"),
   "ERROR\r\n", 'unknown command with arguments');
is(reply_to($sock, "GET keep\r\n"), "ERROR\r\n", 'commands are case sensitive');
# memcached 1.6.45: a line shorter than 4 bytes with its newline, or a
# known command without enough words, is a bad command line (1.6.18:
# ERROR); the command is what precedes the first space.
is(reply_to($sock, "\r\n"), "CLIENT_ERROR bad command line format\r\n", 'empty line');
is(reply_to($sock, "\n"), "CLIENT_ERROR bad command line format\r\n", 'bare newline is an empty line');
is(reply_to($sock, "ab\n"), "CLIENT_ERROR bad command line format\r\n", 'a 3-byte line');
is(reply_to($sock, "ab\r\n"), "ERROR\r\n", 'a 4-byte line is an unknown command');
is(reply_to($sock, "get\r\n"), "CLIENT_ERROR bad command line format\r\n", 'get without a key');
is(reply_to($sock, "get \r\n"), "CLIENT_ERROR bad command line format\r\n", 'get with only a trailing space');
is(reply_to($sock, "  get keep\r\n"), "ERROR\r\n",
   'leading spaces before the command: no command');
is(reply_to($sock, "get keep\n"), "VALUE keep 0 4\r\nsafe\r\nEND\r\n",
   'a line may end in a bare newline');
mem_get_is($sock, 'keep', 'safe', 'connection usable after ERROR replies');

# ---- key length: 250 bytes is the limit ----

is(reply_to($sock, "set $max 0 0 1\r\nx\r\n"),
   "STORED\r\n", 'set with a 250-byte key');
mem_get_is($sock, $max, 'x', 'get with a 250-byte key');

# memcached 1.6.45 sends an empty line after this error (its line ending
# copied twice), which a client would read as the next reply; we do not
# (doc/compatibility.md).
my $get_long = "CLIENT_ERROR bad command line format\r\n" . (is_ours() ? '' : "\r\n");
is(reply_to($sock, "get $long\r\n"), $get_long,
   'get with a 251-byte key');
is(reply_to($sock, "get keep $long\r\n"),
   $get_long,
   'get of a good key then a 251-byte key: only the error, no VALUE');
is(reply_to($sock, "gets $long\r\n"),
   $get_long,
   'gets with a 251-byte key');
# As memcached 1.6.45, the data block is swallowed (1.6.18 read its line
# as a command).
is(reply_to($sock, "set $long 0 0 1\r\nx\r\n"),
   "CLIENT_ERROR bad command line format\r\n",
   'set with a 251-byte key: the data line is swallowed');
is(reply_to($sock, "set $long 0 0 8\r\nget keep\r\n"),
   "CLIENT_ERROR bad command line format\r\n",
   'set with a 251-byte key: a data line that looks like a command is swallowed');
is(reply_to($sock, "delete $long\r\n"),
   "CLIENT_ERROR bad command line format\r\n",
   'delete with a 251-byte key');
is(reply_to($sock, "incr $long 1\r\n"),
   "CLIENT_ERROR bad command line format\r\n",
   'incr with a 251-byte key');
is(reply_to($sock, "decr $long 1\r\n"),
   "CLIENT_ERROR bad command line format\r\n",
   'decr with a 251-byte key');
is(reply_to($sock, "touch $long 10\r\n"),
   "CLIENT_ERROR bad command line format\r\n",
   'touch with a 251-byte key');
mem_get_is($sock, 'keep', 'safe', 'keep unchanged after key length errors');

# ---- odd bytes in keys ----
# Only a space separates tokens: control characters, tab, DEL and high
# bytes are part of the key, and so is a NUL byte (memcached 1.6.45;
# 1.6.18 ended the line at a NUL).

is(reply_to($sock, "set a\x01b 0 0 2\r\nc1\r\n"),
   "STORED\r\n", 'set key containing \\x01');
mem_get_is($sock, "a\x01b", 'c1', 'get key containing \\x01');
mem_get_is($sock, 'ab', undef, '\\x01 is not dropped from the key');
is(reply_to($sock, "set a\tb 0 0 2\r\nc2\r\n"),
   "STORED\r\n", 'set key containing a tab');
mem_get_is($sock, "a\tb", 'c2', 'a tab is part of the key');
mem_get_is($sock, 'a', undef, 'a tab does not split tokens');
is(reply_to($sock, "set \x7f\xff 0 0 2\r\nc3\r\n"),
   "STORED\r\n", 'set key of DEL and 0xff');
mem_get_is($sock, "\x7f\xff", 'c3', 'get key of DEL and 0xff');
is(reply_to($sock, "get keep\x00junk\r\n"), "END\r\n",
   'NUL inside a key: "keep\\0junk" is another key');
is(reply_to($sock, "set g\x00h 0 0 1\r\nz\r\n"), "STORED\r\n",
   'NUL in a set key: stored');
mem_get_is($sock, "g\x00h", 'z', 'a key holding a NUL reads back');
is(reply_to($sock, "version\x00\r\n"), "ERROR\r\n", 'a NUL after the command name: unknown command');
is(reply_to($sock, "\x00get keep\r\n"),
   "ERROR\r\n", 'line starting with NUL is an empty command');
# A space in the key position shifts the tokens.
is(reply_to($sock, "set a b 0 0 1\r\nx\r\n"),
   "CLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad command line format\r\n",
   'set "a b": b is read as flags, 0 as the length: "x\\r" swallowed, "\\n" too short');
is(reply_to($sock, "incr a b 1\r\n"),
   "CLIENT_ERROR invalid numeric delta argument\r\n",
   'incr "a b" 1: b is read as the delta');
is(reply_to($sock, "touch a b 1\r\n"),
   "CLIENT_ERROR invalid exptime argument\r\n",
   'touch "a b" 1: b is read as the exptime');
is(reply_to($sock, "delete a b\r\n"),
   "NOT_FOUND\r\n",
   'delete "a b": b is ignored');
is(reply_to($sock, "delete nokey 0\r\n"),
   "NOT_FOUND\r\n", 'delete <key> 0 is still accepted');
mem_get_is($sock, 'keep', 'safe', 'keep unchanged after odd keys');

# ---- malformed storage command lines ----
# As memcached 1.6.45: the length is read first, digits only; a bad one
# leaves the data line to be read as a command (here "x", too short to be
# one). Once the length is known, any other error swallows the data.

is(reply_to($sock, "set keep 0 0 -1\r\nx\r\n"), "CLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad command line format\r\n",
   'set with negative length');
is(reply_to($sock, "set keep 0 0 abc\r\nx\r\n"), "CLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad command line format\r\n",
   'set with non-numeric length');
is(reply_to($sock, "set keep 0 0 1x\r\nx\r\n"), "CLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad command line format\r\n",
   'set with trailing garbage after the length');
is(reply_to($sock, "set keep 0 0 +1\r\nx\r\n"), "CLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad command line format\r\n",
   'set with a + before the length');
is(reply_to($sock, "set keep abc 0 1\r\nx\r\n"), "CLIENT_ERROR bad command line format\r\n",
   'set with non-numeric flags: data swallowed');
is(reply_to($sock, "set keep -1 0 1\r\nx\r\n"), "CLIENT_ERROR bad command line format\r\n",
   'set with negative flags: data swallowed');
is(reply_to($sock, "set keep 0 abc 1\r\nx\r\n"), "CLIENT_ERROR bad command line format\r\n",
   'set with non-numeric exptime: data swallowed');
is(reply_to($sock, "set keep 0 -abc 1\r\nx\r\n"), "CLIENT_ERROR bad command line format\r\n",
   'set with exptime "-abc": data swallowed');
is(reply_to($sock, "set keep 0 0\r\nx\r\n"), "CLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad command line format\r\n", 'set with too few tokens');
is(reply_to($sock, "set keep 0 0 \r\nx\r\n"), "CLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad command line format\r\n",
   'set with a trailing space instead of the length');
is(reply_to($sock, "set\r\n"), "CLIENT_ERROR bad command line format\r\n", 'set alone');
is(reply_to($sock, "cas keep 0 0 1\r\nx\r\n"), "CLIENT_ERROR bad command line format\r\n",
   'cas without a cas value: data swallowed');
is(reply_to($sock, "cas keep 0 0 1 abc\r\nx\r\n"), "CLIENT_ERROR bad command line format\r\n",
   'cas with a non-numeric cas value: data swallowed');
is(reply_to($sock, "cas keep 0 0 1 +1\r\nx\r\n"), "CLIENT_ERROR bad command line format\r\n",
   'cas with a + before the cas value: data swallowed');
mem_get_is($sock, 'keep', 'safe', 'keep unchanged after malformed set lines');

# A bad length is answered even with noreply (memcached 1.6.45 reads the
# noreply after the length); other errors are silenced.
is(reply_to($sock, "set keep 0 0 -1 noreply\r\nget keep\r\n"),
   "CLIENT_ERROR bad command line format\r\nVALUE keep 0 4\r\nsafe\r\nEND\r\n",
   'noreply does not silence CLIENT_ERROR of a bad length');
is(reply_to($sock, "set keep abc 0 1 noreply\r\nx\r\nget keep\r\n"),
   "VALUE keep 0 4\r\nsafe\r\nEND\r\n",
   'noreply silences CLIENT_ERROR of bad flags; the data is swallowed');

# A sixth token that is not "noreply" is ignored, and so are more
# (memcached 1.6.45; 1.6.18 answered ERROR to more than six).
is(reply_to($sock, "set six 0 0 1 2\r\nx\r\n"),
   "STORED\r\n", 'set with a sixth token that is not noreply');
mem_get_is($sock, 'six', 'x', 'value stored despite the sixth token');
is(reply_to($sock, "set seven 0 0 1 noreply extra\r\nx\r\n"),
   "STORED\r\n", 'set with a token after noreply: not noreply, STORED');
is(reply_to($sock, "set many 0 0 1 a b c d e\r\nx\r\n"),
   "STORED\r\n", 'set with five more tokens: STORED');

# Runs of spaces between tokens count as one separator.
is(reply_to($sock, "set  sp  0  0  2 \r\nsp\r\n"),
   "STORED\r\n", 'set with doubled spaces');
mem_get_is($sock, 'sp', 'sp', 'key stored without the extra spaces');

# Negative exptime is not an error: stored, and expired at once.
is(reply_to($sock, "set neg 0 -1 1\r\nx\r\n"),
   "STORED\r\n", 'set with exptime -1 is STORED');
mem_get_is($sock, 'neg', undef, 'exptime -1 item is never returned');

# ---- incr/decr/touch argument errors ----

is(reply_to($sock, "set num 0 0 1\r\n5\r\n"), "STORED\r\n", 'stored num');
is(reply_to($sock, "incr num abc\r\n"),
   "CLIENT_ERROR invalid numeric delta argument\r\n",
   'incr with non-numeric delta');
is(reply_to($sock, "incr num -1\r\n"),
   "CLIENT_ERROR invalid numeric delta argument\r\n",
   'incr with negative delta');
is(reply_to($sock, "decr num 18446744073709551616\r\n"),
   "CLIENT_ERROR invalid numeric delta argument\r\n",
   'decr with delta above 2**64-1');
is(reply_to($sock, "incr num\r\n"), "CLIENT_ERROR bad command line format\r\n", 'incr without delta');
is(reply_to($sock, "incr num +1\r\n"),
   "CLIENT_ERROR invalid numeric delta argument\r\n",
   'incr with a + before the delta');
is(reply_to($sock, "incr keep 1\r\n"),
   "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
   'incr of a non-numeric value');
is(reply_to($sock, "touch num abc\r\n"),
   "CLIENT_ERROR invalid exptime argument\r\n",
   'touch with non-numeric exptime');
is(reply_to($sock, "touch num\r\n"), "CLIENT_ERROR bad command line format\r\n", 'touch without exptime');
is(reply_to($sock, "touch num +1\r\n"), "CLIENT_ERROR invalid exptime argument\r\n",
   'touch with a + before the exptime');
is(reply_to($sock, "gat +1 num\r\n"), "CLIENT_ERROR invalid exptime argument\r\n",
   'gat with a + before the exptime');
is(reply_to($sock, "gat abc num\r\n"),
   "CLIENT_ERROR invalid exptime argument\r\n",
   'gat with non-numeric exptime');
mem_get_is($sock, 'num', '5', 'num unchanged after argument errors');
mem_get_is($sock, 'keep', 'safe', 'keep unchanged after argument errors');

# ---- bad data chunk ----
# The server reads exactly <bytes>+2 bytes; if the last two are not \r\n it
# answers CLIENT_ERROR bad data chunk, keeps the old value, and parses
# whatever follows those bytes as the next command.

is(reply_to($sock, "set keep 0 0 3\r\nabcdef\r\n"),
   "CLIENT_ERROR bad data chunk\r\n" . "CLIENT_ERROR bad command line format\r\n",
   'data longer than declared: error, then the rest "f" is a line too short');
mem_get_is($sock, 'keep', 'safe', 'keep unchanged after bad data chunk');
is(reply_to($sock, "set keep 0 0 3\r\nabcdeget keep\r\n"),
   "CLIENT_ERROR bad data chunk\r\nVALUE keep 0 4\r\nsafe\r\nEND\r\n",
   'resync right after <bytes>+2: the following get runs');
is(reply_to($sock, "set keep 0 0 3\r\nabc\nget keep\r\n"),
   "CLIENT_ERROR bad data chunk\r\nERROR\r\n",
   'data ended by bare \\n: the g of get is eaten, "et keep" is unknown');
is(reply_to($sock, "set keep 0 0 3\r\nabc\r\r\nget keep\r\n"),
   "CLIENT_ERROR bad data chunk\r\n" . "CLIENT_ERROR bad command line format\r\n" . "VALUE keep 0 4\r\nsafe\r\nEND\r\n",
   'data ended by \\r\\r: the leftover \\n is an empty line');
is(reply_to($sock, "set new 0 0 3\r\nabcdef\r\n"),
   "CLIENT_ERROR bad data chunk\r\n" . "CLIENT_ERROR bad command line format\r\n",
   'bad data chunk on a new key');
mem_get_is($sock, 'new', undef, 'nothing stored after bad data chunk');
is(reply_to($sock, "set new 0 0 1 noreply\r\nxyz\r\nget keep\r\n"),
   "CLIENT_ERROR bad command line format\r\n" . "VALUE keep 0 4\r\nsafe\r\nEND\r\n",
   'noreply silences bad data chunk; the leftover \\r\\n is an empty line');

# ---- value larger than the item size limit (-I, default 1m) ----
# SERVER_ERROR, then exactly <bytes>+2 bytes are swallowed unchecked. A
# failed set also removes the old value; append leaves it alone.

my $big = 1024 * 1024 + 1;
is(reply_to($sock, "set keep 0 0 $big\r\n" . ('a' x $big) . "\r\n"),
   "SERVER_ERROR object too large for cache\r\n",
   'set of a value over -I');
mem_get_is($sock, 'keep', undef, 'too large set removed the old value');
is(reply_to($sock, "set keep 0 0 4\r\nsafe\r\n"),
   "STORED\r\n", 'stored keep again');
is(reply_to($sock, "set other 0 0 $big\r\n" . ('b' x $big) . "XYget keep\r\n"),
   "SERVER_ERROR object too large for cache\r\nVALUE keep 0 4\r\nsafe\r\nEND\r\n",
   'swallow takes <bytes>+2 bytes whatever they are, then resyncs');
is(reply_to($sock, "append keep 0 0 $big\r\n" . ('c' x $big) . "\r\n"),
   "SERVER_ERROR object too large for cache\r\n",
   'append of a value over -I');
mem_get_is($sock, 'keep', 'safe', 'too large append keeps the old value');
print $sock "set keep 0 0 $big noreply\r\n" . ('d' x $big) . "\r\n";
is(reply_to($sock, "get keep\r\n"), "END\r\n",
   'too large set with noreply: silent, swallowed, old value removed');
is(reply_to($sock, "set keep 0 0 4\r\nsafe\r\n"),
   "STORED\r\n", 'connection usable after too large values');

# ---- overlong lines ----
# More than 2048 bytes without a newline closes the connection without a
# reply, unless the line is a get/gets (large multigets are allowed).

print $sock 'x' x 2048;
select(undef, undef, undef, 0.2);
is(reply_to($sock, "\r\n"),
   "ERROR\r\n", '2048 bytes without newline still wait for it');

my @keys = map { sprintf('%0200d', $_) } 1 .. 100;
is(reply_to($sock, "get @keys keep\r\n"), "VALUE keep 0 4\r\nsafe\r\nEND\r\n",
   'get line of 20 KB is served');

my $s2 = $server->new_sock;
print $s2 'x' x 2049;
is(closed($s2), 1, '2049 bytes without newline: connection closed, no reply');
my $s3 = $server->new_sock;
print $s3 'set keep 0 0 1' . (' ' x 3000);
is(closed($s3), 1, 'set line padded past 2048 bytes: connection closed');
my $s4 = $server->new_sock;
print $s4 'get keep' . (' ' x 3000);
select(undef, undef, undef, 0.2);
is(reply_to($s4, "\r\n"), "VALUE keep 0 4\r\nsafe\r\nEND\r\n",
   'get line padded past 2048 bytes is kept open and served');
mem_get_is($sock, 'keep', 'safe', 'first connection unaffected by the closes');

# ---- binary protocol bytes on an ascii-only server ----
# With -B ascii the 0x80 magic byte is no protocol switch: the bytes are a
# text line like any other, ending at its first \n.

my $ascii = new_memcached('-B ascii');
my $as = $ascii->sock;
# 24-byte binary header, opcode 0x0b (version), no \n in it: waits for one.
print $as "\x80\x0b" . ("\x00" x 22);
is(reply_to($as, "\r\n"), "ERROR\r\n", 'binary version header then \\r\\n: ERROR');
is(reply_to($as, "get k\r\n"), "END\r\n", 'connection usable after a binary header');
# Opcode 0x0a (noop) is a \n: "\x80" is one line, the 22 NULs start the next.
is(reply_to($as, "\x80\x0a" . ("\x00" x 22) . "\r\n"), "CLIENT_ERROR bad command line format\r\n" . "ERROR\r\n",
   'binary noop header: "\\x80" line (too short), then a NUL-led line');
is(reply_to($as, "set k 0 0 1\r\nx\r\n"), "STORED\r\n", 'store after binary garbage');
mem_get_is($as, 'k', 'x', 'get after binary garbage');
print $as "\x80" . ('z' x 3000);
is(closed($as), 1, 'binary byte then 3000 bytes without newline: closed');
is($ascii->is_running, 1, 'server still running after binary garbage');

done_testing();
