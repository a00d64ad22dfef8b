#!/usr/bin/perl
# Pipelining and fragmentation: many requests in one write are answered in
# order with exactly the bytes one-at-a-time requests get; a request that
# arrives a byte at a time, or split anywhere inside its data, gets the
# same reply as one sent whole.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(usleep);

# Reads exactly `len` bytes (fewer if the server closes, or stays silent
# for 10 s, so a missing reply fails instead of hanging the test).
sub read_exact {
    my ($sock, $len) = @_;
    my $buf = '';
    eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 10;
        while (length($buf) < $len) {
            my $n = sysread($sock, $buf, $len - length($buf), length($buf));
            last unless $n;
        }
        alarm 0;
    };
    alarm 0;
    return $buf;
}

# Sends a request in pieces, flushing each and pausing between them.
sub send_pieces {
    my ($sock, @pieces) = @_;
    for my $p (@pieces) {
        syswrite($sock, $p);
        usleep(5_000);
    }
}

my $server = new_memcached();
my $sock = $server->sock;
setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);

# ---- 100 sets then 100 gets in one write ----

my ($req, $want) = ('', '');
for my $i (1 .. 100) {
    my $v = "value-$i" x ($i % 7 + 1);
    $req .= "set p$i $i 0 " . length($v) . "\r\n$v\r\n";
    $want .= "STORED\r\n";
}
for my $i (1 .. 100) {
    my $v = "value-$i" x ($i % 7 + 1);
    $req .= "get p$i\r\n";
    $want .= "VALUE p$i $i " . length($v) . "\r\n$v\r\nEND\r\n";
}
print $sock $req;
is(read_exact($sock, length $want), $want, '100 sets and 100 gets in one write');

# ---- one write mixing every kind of reply, errors included ----

$req = "set m 0 0 1\r\n5\r\n"
     . "incr m 10\r\n"
     . "decr m 3\r\n"
     . "get m nokey p1\r\n"
     . "add m 0 0 1\r\nx\r\n"
     . "append m 0 0 2\r\n00\r\n"
     . "prepend m 0 0 1\r\n9\r\n"
     . "bogus\r\n"
     . "touch m 0\r\n"
     . "touch nokey 0\r\n"
     . "set m 0 0 -1\r\n"
     . "incr nokey 1\r\n"
     . "set m 0 0 2\r\nabcd\r\n"
     . "get m\r\n"
     . "delete m\r\n"
     . "delete m\r\n"
     . "get m\r\n";
$want = "STORED\r\n"
      . "15\r\n"
      . "12\r\n"
      . "VALUE m 0 2\r\n12\r\nVALUE p1 1 14\r\nvalue-1value-1\r\nEND\r\n"
      . "NOT_STORED\r\n"
      . "STORED\r\n"
      . "STORED\r\n"
      . "ERROR\r\n"
      . "TOUCHED\r\n"
      . "NOT_FOUND\r\n"
      . "CLIENT_ERROR bad command line format\r\n"
      . "NOT_FOUND\r\n"
      . "CLIENT_ERROR bad data chunk\r\n"
      . "CLIENT_ERROR bad command line format\r\n"
      . "VALUE m 0 5\r\n91200\r\nEND\r\n"
      . "DELETED\r\n"
      . "NOT_FOUND\r\n"
      . "END\r\n";
print $sock $req;
is(read_exact($sock, length $want), $want, 'mixed pipeline answered in order');

# ---- noreply in a pipeline: only the final get answers ----

$req = '';
$req .= "set q$_ 0 0 2 noreply\r\nq$_\r\n" for 1 .. 9;
$req .= "delete q3 noreply\r\nincr q5 0 noreply\r\n";
$req .= "get " . join(' ', map { "q$_" } 1 .. 9) . "\r\n";
$want = join('', map { "VALUE q$_ 0 2\r\nq$_\r\n" } grep { $_ != 3 } 1 .. 9) . "END\r\n";
print $sock $req;
is(read_exact($sock, length $want), $want, 'noreply pipeline then one get');

# ---- many large requests and replies in one write ----

my $big = join '', map { chr(65 + $_ % 26) } 1 .. 10_000;
$req = join '', map { "set b$_ 0 0 10000\r\n$big\r\n" } 1 .. 500;
print $sock $req;
$want = "STORED\r\n" x 500;
is(read_exact($sock, length $want), $want, '500 sets of 10000 bytes in one write');
print $sock join('', map { "get b$_\r\n" } 1 .. 1000);
$want = join '', map { $_ <= 500 ? "VALUE b$_ 0 10000\r\n$big\r\nEND\r\n" : "END\r\n" } 1 .. 1000;
my $got = read_exact($sock, length $want);
is(length $got, length $want, '1000 gets in one write: reply length');
is($got eq $want ? 'same' : 'differ', 'same', '1000 gets in one write: reply bytes');

# ---- one byte at a time ----

my $one = "set slow 3 0 10\r\n0123456789\r\nget slow\r\nincr nokey 1\r\n";
send_pieces($sock, split //, $one);
$want = "STORED\r\nVALUE slow 3 10\r\n0123456789\r\nEND\r\nNOT_FOUND\r\n";
is(read_exact($sock, length $want), $want, 'requests sent one byte at a time');

# ---- splits inside a request ----

send_pieces($sock, "se", "t split 0 0 1", "0\r\nhello", "world\r\n");
is(read_exact($sock, 8), "STORED\r\n", 'split in the command name and in the data');
mem_get_is($sock, 'split', 'helloworld', 'value split mid-data stored whole');
send_pieces($sock, "set split 0 0 5\r", "\nabcde\r", "\n");
is(read_exact($sock, 8), "STORED\r\n", 'split between \\r and \\n of line and data');
mem_get_is($sock, 'split', 'abcde', 'value split before its final \\n');
send_pieces($sock, "set split 0 0 5\r\n", "ab\r\n", "c\r\n");
is(read_exact($sock, 8), "STORED\r\n", 'data containing \\r\\n split after it');
mem_get_is($sock, 'split', "ab\r\nc", 'value with \\r\\n inside');
send_pieces($sock, "get spl", "it p2", "\r\n");
$want = "VALUE split 0 5\r\nab\r\nc\r\nVALUE p2 2 21\r\nvalue-2value-2value-2\r\nEND\r\n";
is(read_exact($sock, length $want), $want, 'get split inside a key');
send_pieces($sock, "set split 0 0 3\r\nabcX", "Yget split\r\n");
$want = "CLIENT_ERROR bad data chunk\r\nVALUE split 0 5\r\nab\r\nc\r\nEND\r\n";
is(read_exact($sock, length $want), $want, 'bad data chunk split across writes');

# ---- quit inside a pipeline ----

my $s2 = $server->new_sock;
print $s2 "set qq 0 0 1\r\nz\r\nget qq\r\nquit\r\nget qq\r\nset qq 0 0 1\r\ny\r\n";
$want = "STORED\r\nVALUE qq 0 1\r\nz\r\nEND\r\n";
is(read_exact($s2, length($want) + 1), $want,
   'replies before quit, then the connection closes');
mem_get_is($sock, 'qq', 'z', 'requests after quit are not executed');

done_testing();
