#!/usr/bin/perl
# A replica of a master started with -Y: it authenticates with the first
# user:password line of -o repl_auth_file before asking rep_sync. Wrong or
# missing credentials keep the link down (and the master counts the
# failure); a file that cannot be used refuses the start with a message
# naming it.
use strict;
use warnings;
use Test::More;
use File::Path qw(make_path remove_tree);
use lib 't/lib';
use MemcachedTest;
use Repl;

require_debug_binary();

my $dir = "/tmp/mctest.$$.repl-auth";
remove_tree($dir);
make_path($dir);
END { local $?; remove_tree($dir) if $dir && -d $dir; }

sub file_with {
    my ($name, $text) = @_;
    my $path = "$dir/$name";
    open(my $fh, '>', $path) or die "$path: $!";
    print $fh $text;
    close $fh;
    chmod 0600, $path;
    return $path;
}

my $users = file_with('users', "repl:s3cret\nalice:pw\n");
my $good  = file_with('good', "repl:s3cret\n");
my $wrong = file_with('wrong', "repl:nope\n");
my $bad   = file_with('bad', "no colon here\n");
my $empty = file_with('empty', '');

my $master = new_memcached("-Y $users");
my $m = $master->sock;
my $mport = $master->port;
is(send_recv($m, "set alice 0 0 8\r\nalice pw\r\n"), "STORED\r\n", 'a client authenticates');
is(send_recv($m, "set k 5 0 2\r\nkv\r\n"), "STORED\r\n", 'and writes');

my $replica = new_memcached("-o replicaof=127.0.0.1:$mport,repl_auth_file=$good");
my $r = $replica->sock;
ok(wait_synced($m, $r), 'the replica authenticated and caught up');
is(digest($r), digest($m), 'same data');
is(send_recv($m, "set k2 0 0 1\r\nx\r\n"), "STORED\r\n", 'a write after the sync');
ok(wait_synced($m, $r), 'streamed to the replica');
print $r "get k2\r\n";
is(read_until_end($r), "VALUE k2 0 1\r\nx\r\nEND\r\n", 'the replica serves it');

my $errors = stats_of($m)->{auth_errors};
my $wrongrep = new_memcached("-v -o replicaof=127.0.0.1:$mport,repl_auth_file=$wrong");
is(wait_stat_ge($m, 'auth_errors', $errors + 1), $errors + 1,
   'wrong password: the master counts an authentication failure');
like(wait_output($wrongrep, qr/refused: CLIENT_ERROR authentication failure/), qr/refused: CLIENT_ERROR authentication failure/,
     'the replica logs the refusal');
is(digest($wrongrep->sock), "DIGEST 0 0000000000000000\r\n", 'and holds nothing of the master');

my $nocreds = new_memcached("-v -o replicaof=127.0.0.1:$mport");
like(wait_output($nocreds, qr/refused: CLIENT_ERROR unauthenticated/), qr/refused: CLIENT_ERROR unauthenticated/,
     'no credentials: rep_sync is refused as any unauthenticated command');
is(digest($nocreds->sock), "DIGEST 0 0000000000000000\r\n", 'it holds nothing');
is(repl_stats($m)->{connected_replicas}, 1, 'the master serves only the authenticated replica');

for my $case (['missing', "$dir/none", 71, "-o repl_auth_file=$dir/none: cannot read the auth file: No such file or directory (os error 2)\n"],
              ['no colon', $bad, 64, undef],
              ['empty', $empty, 64, "-o repl_auth_file=$empty: no user:password line\n"]) {
    my ($name, $path, $want, $msg) = @$case;
    my ($status, $out) = run_refused('-o', "replicaof=127.0.0.1:$mport,repl_auth_file=$path");
    is($status, $want, "$name file: exit status $want");
    if (defined $msg) {
        is($out, $msg, "$name file: the message names it");
    } else {
        like($out, qr/\A-o repl_auth_file=\Q$path\E: .*line 1/, "$name file: the message names it and the line");
    }
}

done_testing();

# Polls a server's output until it matches; returns the output.
sub wait_output {
    my ($srv, $re) = @_;
    my $deadline = time + 30;
    my $out = '';
    while (time < $deadline) {
        $out = $srv->output;
        return $out if $out =~ $re;
        select(undef, undef, undef, 0.02);
    }
    return $out;
}

# Polls `stats` until `name` is at least `want`; returns its last value.
sub wait_stat_ge {
    my ($sock, $name, $want) = @_;
    my $deadline = time + 30;
    my $v;
    while (time < $deadline) {
        $v = stats_of($sock)->{$name};
        return $v if $v >= $want;
        select(undef, undef, undef, 0.02);
    }
    return $v;
}
