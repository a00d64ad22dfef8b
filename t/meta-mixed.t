#!/usr/bin/perl
# Meta and classic commands on one connection: both see the same items,
# cas uniques, client flags and TTLs; a quiet pipeline of mg q closed by mn.
# Expected bytes checked against memcached 1.6.18.
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

my $server = new_memcached('-o no_lru_maintainer,no_lru_crawler');
my $sock = $server->sock;

# ---- classic store, meta read ----

is(send_recv($sock, "set a 5 100 3\r\nabc\r\n"), "STORED\r\n", 'set a with flags 5, exptime 100');
my $cas_a = gets_cas($sock, 'a');
like(meta($sock, "mg a v f t c s k\r\n"), qr/^VA 3 f5 t(?:100|99) c$cas_a s3 ka\r\nabc\r\n\z/,
     'mg sees the value, flags, TTL and the cas unique of gets');
is(mg_cas($sock, 'a'), $cas_a, 'mg c and gets agree');

# ---- meta store, classic read ----

is(meta($sock, "ms b 2 F9 T50\r\nxy\r\n"), "HD\r\n", 'ms b with F9 T50');
my $cas_b = mg_cas($sock, 'b');
print $sock "gets b\r\n";
is(read_until_end($sock), "VALUE b 9 2 $cas_b\r\nxy\r\nEND\r\n", 'gets sees the ms flags and the mg cas');
print $sock "get a b\r\n";
is(read_until_end($sock), "VALUE a 5 3\r\nabc\r\nVALUE b 9 2\r\nxy\r\nEND\r\n", 'get of a set item and an ms item');

# ---- cas across the two protocols ----

is(send_recv($sock, "cas b 1 0 2 $cas_b\r\nzz\r\n"), "STORED\r\n", 'cas with the token from mg c: STORED');
is(send_recv($sock, "cas b 1 0 2 $cas_b\r\nzz\r\n"), "EXISTS\r\n", 'the same token again: EXISTS');
my $cas_b2 = gets_cas($sock, 'b');
is(meta($sock, "ms b 2 C$cas_b\r\nqq\r\n"), "EX\r\n", 'ms C with the old token: EX');
# memcached 1.6.45 gives every store a CAS unique, the refused ones too:
# here the EXISTS above and the EX.
is(meta($sock, "ms b 2 C$cas_b2 c\r\nqq\r\n"), "HD c" . ($cas_b2 + 3) . "\r\n", 'ms C with the token from gets: HD');
is(meta($sock, "md b C$cas_b2\r\n"), "EX\r\n", 'md C with a used token: EX');
is(meta($sock, "md b C" . ($cas_b2 + 3) . "\r\n"), "HD\r\n", 'md C with the current token: HD');
print $sock "get b\r\n";
is(read_until_end($sock), "END\r\n", 'get after md: END');

# ---- TTLs across the two protocols ----

is(meta($sock, "ms t 1 T50\r\nt\r\n"), "HD\r\n", 'ms t with T50');
is(send_recv($sock, "touch t 200\r\n"), "TOUCHED\r\n", 'touch t 200');
like(meta($sock, "mg t t\r\n"), qr/^HD t(?:200|199)\r\n\z/, 'mg t sees the touch');
print $sock "gat 300 t\r\n";
is(read_until_end($sock), "VALUE t 0 1\r\nt\r\nEND\r\n", 'gat 300 t');
like(meta($sock, "mg t t\r\n"), qr/^HD t(?:300|299)\r\n\z/, 'mg t sees the gat');
is(meta($sock, "mg t T0 t\r\n"), "HD t-1\r\n", 'mg T0 takes the TTL away');
is(send_recv($sock, "touch t -1\r\n"), "TOUCHED\r\n", 'touch t -1');
is(meta($sock, "mg t\r\n"), "EN\r\n", 'mg after touch -1: EN');

# ---- counters ----

is(meta($sock, "ma n N0 J5\r\n"), "HD\r\n", 'ma n creates 5');
is(send_recv($sock, "incr n 10\r\n"), "15\r\n", 'incr of the ma counter');
is(meta($sock, "ma n v\r\n"), "VA 2\r\n16\r\n", 'ma after incr');
is(send_recv($sock, "decr n 100\r\n"), "0\r\n", 'decr to 0');
print $sock "get n\r\n";
is(read_until_end($sock), "VALUE n 0 2\r\n0 \r\nEND\r\n", 'get shows the space-padded 0');
is(meta($sock, "ma n MD v\r\n"), "VA 1\r\n0\r\n", 'ma MD of 0 stays 0');

# ---- deletes, stale items and stubs seen by classic commands ----

is(send_recv($sock, "delete a\r\n"), "DELETED\r\n", 'delete a');
is(meta($sock, "mg a v\r\n"), "EN\r\n", 'mg after delete: EN');
is(meta($sock, "md a\r\n"), "NF\r\n", 'md after delete: NF');
is(send_recv($sock, "set s 3 0 3\r\nold\r\n"), "STORED\r\n", 'set s');
is(meta($sock, "md s I\r\n"), "HD\r\n", 'md s I');
my $cas_s = mg_cas($sock, 's');
print $sock "gets s\r\n";
is(read_until_end($sock), "VALUE s 3 3 $cas_s\r\nold\r\nEND\r\n", 'gets of a stale item: a plain hit with the new cas');
is(meta($sock, "mg s v\r\n"), "VA 3 Z X\r\nold\r\n", 'the earlier mg c took the win: Z X');
is(send_recv($sock, "set s 0 0 3\r\nnew\r\n"), "STORED\r\n", 'classic set over the stale item');
is(meta($sock, "mg s v\r\n"), "VA 3\r\nnew\r\n", 'not stale any more');
is(meta($sock, "mg viv N30\r\n"), "HD W\r\n", 'mg N30 makes a stub');
print $sock "get viv\r\n";
is(read_until_end($sock), "VALUE viv 0 0\r\n\r\nEND\r\n", 'get sees the stub as an empty value');
is(send_recv($sock, "add viv 0 0 1\r\nx\r\n"), "NOT_STORED\r\n", 'add over the stub: NOT_STORED');
is(send_recv($sock, "set viv 0 0 1\r\nx\r\n"), "STORED\r\n", 'set over the stub');
is(meta($sock, "mg viv v\r\n"), "VA 1\r\nx\r\n", 'the stub is replaced, no Z');
is(send_recv($sock, "append viv 0 0 1\r\ny\r\n"), "STORED\r\n", 'classic append');
is(meta($sock, "ms viv 1 MA\r\nz\r\n"), "HD\r\n", 'meta append');
print $sock "get viv\r\n";
is(read_until_end($sock), "VALUE viv 0 3\r\nxyz\r\nEND\r\n", 'both appends');
is(send_recv($sock, "flush_all\r\n"), "OK\r\n", 'flush_all');
is(meta($sock, "mg viv\r\n"), "EN\r\n", 'mg after flush_all: EN');

# ---- a quiet pipeline closed by mn ----

is(meta($sock, "ms p1 2\r\nv1\r\n"), "HD\r\n", 'ms p1');
is(meta($sock, "ms p3 2\r\nv3\r\n"), "HD\r\n", 'ms p3');
print $sock "mg p0 q v k O0\r\nmg p1 q v k O1\r\nmg p2 q v k O2\r\nmg p3 q v k O3\r\nmg p4 q v k O4\r\nmn\r\n";
is(read_reply($sock, length("VA 2 kp1 O1\r\nv1\r\nVA 2 kp3 O3\r\nv3\r\nMN\r\n")),
   "VA 2 kp1 O1\r\nv1\r\nVA 2 kp3 O3\r\nv3\r\nMN\r\n", 'mg q pipeline: the hits in order, then MN');
print $sock "mg p0 q\r\nmg p2 q\r\nmn\r\nmg p1 q\r\nmn\r\n";
is(read_reply($sock, length("MN\r\nHD\r\nMN\r\n")), "MN\r\nHD\r\nMN\r\n", 'only misses: MN at once; a q hit without v: HD');
print $sock "set q1 0 0 1 noreply\r\na\r\nms q2 1 q\r\nb\r\nmd q3 q\r\nmg q1 q v\r\nmg q2 q v\r\nmn\r\n";
is(read_reply($sock, length("NF\r\nVA 1\r\na\r\nVA 1\r\nb\r\nMN\r\n")),
   "NF\r\nVA 1\r\na\r\nVA 1\r\nb\r\nMN\r\n", 'set noreply and ms q say nothing; md q miss says NF');
print $sock "get q1 q2\r\nmn\r\n";
is(read_until_end($sock, "MN\r\n"), "VALUE q1 0 1\r\na\r\nVALUE q2 0 1\r\nb\r\nEND\r\nMN\r\n", 'get then mn');

# ---- what needs time to pass (our server only: debugtime shifts its clock) ----

if (is_ours()) {
    is(send_recv($sock, "set e1 0 10 1\r\nx\r\n"), "STORED\r\n", 'set e1 with exptime 10');
    is(meta($sock, "ms e2 1 T10\r\nx\r\n"), "HD\r\n", 'ms e2 with T10');
    is(meta($sock, "mg e1 T100\r\n"), "HD\r\n", 'mg T100 extends the set item');
    is(send_recv($sock, "touch e2 100\r\n"), "TOUCHED\r\n", 'touch extends the ms item');
    is(send_recv($sock, "set e3 0 10 1\r\nx\r\n"), "STORED\r\n", 'set e3 with exptime 10');
    is(send_recv($sock, "debugtime 12\r\n"), "OK\r\n", 'clock +12s');
    print $sock "get e1 e2 e3\r\n";
    is(read_until_end($sock), "VALUE e1 0 1\r\nx\r\nVALUE e2 0 1\r\nx\r\nEND\r\n", 'the extended items live on, e3 expired');
    is(meta($sock, "mg e3\r\n"), "EN\r\n", 'mg of the expired set item: EN');
}

done_testing();
