#!/usr/bin/perl
# Binary-protocol requests (first byte 0x80). memcached answers them under
# the default -B auto; our server does not speak the binary protocol and may
# close the connection or answer with an error instead. What both must do:
# not crash, not leave the client hanging, and keep serving new clients.
use strict;
use warnings;
use Test::More;
use IO::Select;
use Time::HiRes qw(time);
use lib 't/lib';
use MemcachedTest;

$SIG{PIPE} = 'IGNORE';

# A 24-byte binary request header: magic, opcode, key length, extras
# length, data type, vbucket, total body length, opaque, cas.
sub bin_header {
    my ($opcode, $keylen, $bodylen) = @_;
    return pack('CCnCCnNNNN', 0x80, $opcode, $keylen, 0, 0, 0, $bodylen,
                0xdeadbeef, 0, 0);
}

my $GET_FOO = bin_header(0x00, 3, 3) . 'foo';    # GET "foo"
my $VERSION = bin_header(0x0b, 0, 0);            # VERSION, header only

# Sends bytes and waits for the server's first move: 'reply' (some bytes
# came), 'closed' (EOF or reset with nothing before it), or 'no answer'.
sub first_move {
    my ($sock, $bytes, $secs) = @_;
    syswrite($sock, $bytes);
    my $sel = IO::Select->new($sock);
    return 'no answer' unless $sel->can_read($secs);
    my $n = sysread($sock, my $buf, 4096);
    return $n ? 'reply' : 'closed';
}

sub serves_new_client {
    my $server = shift;
    my $sock = $server->new_sock or return 'no connection';
    my $line = send_recv($sock, "version\r\n");
    return defined $line && $line =~ /^VERSION \S+\r\n\z/ ? 1 : 0;
}

# -B auto (the default): a binary request gets a reply or a close.
for my $case (['GET foo', $GET_FOO], ['VERSION', $VERSION]) {
    my ($name, $bytes) = @$case;
    my $server = new_memcached();
    my $move = first_move($server->sock, $bytes, 5);
    note("-B auto, binary $name: $move");
    is($move eq 'reply' || $move eq 'closed' ? 'reply or close' : $move, 'reply or close',
       "-B auto: binary $name is answered or closed within 5s");
    is($server->is_running, 1, "-B auto: binary $name: server still running");
    is(serves_new_client($server), 1, "-B auto: binary $name: a new client is served");
}

# -B ascii: the same bytes are an (unterminated) text line. memcached waits
# for the rest of the line, so no outcome is asserted for that connection;
# the server must go on serving others.
{
    my $server = new_memcached('-B ascii');
    my $move = first_move($server->sock, $GET_FOO, 1);
    note("-B ascii, binary GET foo without newline: $move");
    is($server->is_running, 1, '-B ascii: binary GET without newline: server still running');
    is(serves_new_client($server), 1, '-B ascii: binary GET without newline: a new client is served');
}

# -B ascii, binary bytes ended by "\r\n": a complete bogus line, so a reply
# (memcached: "ERROR\r\n") or a close.
{
    my $server = new_memcached('-B ascii');
    my $move = first_move($server->sock, "$GET_FOO\r\n", 5);
    note("-B ascii, binary GET foo + CRLF: $move");
    is($move eq 'reply' || $move eq 'closed' ? 'reply or close' : $move, 'reply or close',
       '-B ascii: binary GET + CRLF is answered or closed within 5s');
    is($server->is_running, 1, '-B ascii: binary GET + CRLF: server still running');
    is(serves_new_client($server), 1, '-B ascii: binary GET + CRLF: a new client is served');
}

done_testing();
