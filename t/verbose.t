#!/usr/bin/perl
# -vv logs every command line a client sends ("<fd command") and every reply
# line ("<fd" / ">fd", the same connection number on both) on stderr; -v
# does not log commands. The helper collects the server's stdout and stderr
# in one file, read with $server->output.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time usleep);
use lib 't/lib';
use MemcachedTest;

# Waits (up to 5s) for the server output to match, then returns it.
sub output_matching {
    my ($server, $re) = @_;
    my $deadline = time + 5;
    my $out = $server->output;
    while ($out !~ $re && time < $deadline) {
        usleep(20_000);
        $out = $server->output;
    }
    return $out;
}

# One short conversation, the same under every verbosity.
sub talk {
    my ($sock, $v) = @_;
    is(send_recv($sock, "set foo 0 0 3\r\nbar\r\n"), "STORED\r\n", "$v: set foo");
    mem_get_is($sock, 'foo', 'bar', "$v: get foo (hit)");
    mem_get_is($sock, 'nope', undef, "$v: get nope (miss)");
    is(send_recv($sock, "bogus\r\n"), "ERROR\r\n", "$v: unknown command");
    print $sock "set quiet 0 0 2 noreply\r\nhi\r\n";
    is(send_recv($sock, "delete quiet\r\n"), "DELETED\r\n", "$v: noreply set stored");
    like(send_recv($sock, "version\r\n"), qr/^VERSION /, "$v: version");
}

{
    my $server = new_memcached('-vv');
    talk($server->sock, '-vv');

    # The last reply of the conversation is logged last.
    my $out = output_matching($server, qr/^>\d+ VERSION /m);
    my ($fd) = $out =~ /^<(\d+) set foo 0 0 3$/m;
    ok(defined $fd, '-vv: "<fd set foo 0 0 3" logged');
    $fd //= 'none';
    like($out, qr/^<$fd set foo 0 0 3\n>$fd STORED$/m,
         '-vv: set is followed by ">fd STORED"');
    like($out, qr/^<$fd get foo\n>$fd sending key foo\n>$fd END$/m,
         '-vv: get hit logs "sending key foo" then END');
    like($out, qr/^<$fd get nope\n>$fd END$/m, '-vv: get miss logs END only');
    like($out, qr/^<$fd bogus\n>$fd ERROR$/m, '-vv: unknown command logs ERROR');
    like($out, qr/^<$fd set quiet 0 0 2 noreply\n>$fd NOREPLY STORED$/m,
         '-vv: noreply set logs "NOREPLY STORED"');
    # memcached 1.6.45 logs no reply for delete, incr, decr, touch and the
    # meta commands but ms and me (doc/compatibility.md).
    if (is_ours()) {
        like($out, qr/^<$fd delete quiet\n>$fd DELETED$/m, '-vv: delete logs DELETED');
    } else {
        like($out, qr/^<$fd delete quiet\n<$fd version\n>$fd VERSION /m,
             '-vv: delete logs no reply (1.6.45)');
    }
    unlike($out, qr/^(?:bar|hi)$/m, '-vv: values are not logged');

    close $server->sock;
    $out = output_matching($server, qr/^<$fd connection closed\.$/m);
    like($out, qr/^<$fd connection closed\.$/m, '-vv: "<fd connection closed." on close');
}

{
    my $server = new_memcached('-v');
    talk($server->sock, '-v');
    my $out = $server->output;
    unlike($out, qr/^<\d+ /m, '-v: no "<fd" command lines');
    unlike($out, qr/^>\d+ /m, '-v: no ">fd" reply lines');
}

{
    my $server = new_memcached('');
    talk($server->sock, 'no -v');
    is($server->output, '', 'no -v: nothing printed');
    # Warnings are printed whatever the verbosity (SIGUSR2 asks for a
    # dump, which is ours).
    if (is_ours()) {
        kill 'USR2', $server->pid;
        is(output_matching($server, qr/\n/), "SIGUSR2: no dump file configured (-F FILE)\n",
           'no -v: a warning is printed');
    }
}

done_testing();
