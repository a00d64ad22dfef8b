#!/usr/bin/perl
# Dumps that fail, and dumps cut off (doc/dump.md, "Writing a dump"): a
# failing dump leaves FILE byte for byte as it was, counts in dumps_failed,
# logs its reason and lets the server go on serving; a dump child killed
# is a failed dump that leaves no FILE.tmp; a server killed during a dump
# takes its child with it and leaves the previous FILE intact; the child
# holds none of the server's sockets. A failing last dump at a stop makes
# the exit status 74.
#
# Runs with memcached-debug: MEMCACHED_DEBUG_DUMP_DELAY_MS keeps the dump
# child waiting, so the test can act while `dump_in_progress` is 1.
use strict;
use warnings;
use Test::More;
use File::Path qw(make_path remove_tree);
use Time::HiRes qw(usleep time);
use lib 't/lib';
use MemcachedTest;
use DumpFile;

require_debug_binary();

my $top = "/tmp/mctest.$$.dump-failures";
remove_tree($top);
make_path($top);
END { local $?; remove_tree($top) if $top && -d $top; }

# A dump child that waits this long is still waiting when the test is done
# with it: every case below ends it (kill) or stops its server.
my $LONG_DELAY_MS = 600_000;

my $case_no = 0;

# A fresh directory for one case; returns the dump file's path in it.
sub fresh_file {
    my $dir = "$top/case" . ++$case_no;
    make_path($dir);
    return "$dir/cache.dump";
}

# The number of records a dump's trailer declares (undef if the bytes do
# not end with a trailer; doc/dump-format.md).
sub trailer_records {
    my $b = shift // return undef;
    return undef if length($b) < 64 + 32;
    my ($magic, undef, $nrec) = unpack('a4 V Q<', substr($b, -32));
    return $magic eq 'MCEN' ? $nrec : undef;
}

# True while the pid names a live process (a zombie counts as gone: once
# its parent is dead nobody may reap it here).
sub alive {
    my $pid = shift;
    open(my $fh, '<', "/proc/$pid/stat") or return 0;
    my $stat = <$fh> // '';
    return $stat =~ /^\d+ \(.*\) ([A-Za-z])/ && $1 ne 'Z' ? 1 : 0;
}

# The live children of a process, read from /proc/*/status.
sub children_of {
    my $ppid = shift;
    my @kids;
    opendir(my $dh, '/proc') or return ();
    for my $pid (grep { /\A\d+\z/ } readdir $dh) {
        open(my $fh, '<', "/proc/$pid/status") or next;
        while (<$fh>) {
            if (/^PPid:\s+(\d+)/) {
                push @kids, $pid if $1 == $ppid && alive($pid);
                last;
            }
        }
    }
    return sort { $a <=> $b } @kids;
}

# Polls `cond` until it returns true or `secs` pass; returns its last value.
sub wait_for {
    my ($cond, $secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        my $r = $cond->();
        return $r if $r;
        usleep(20_000);
    }
    return $cond->();
}

# The sockets among a process's open descriptors.
sub sockets_of {
    my $pid = shift;
    opendir(my $dh, "/proc/$pid/fd") or return ('(no /proc/<pid>/fd)');
    return grep { defined && /^socket:/ } map { readlink("/proc/$pid/fd/$_") } grep { /\A\d+\z/ } readdir $dh;
}

# Stores `n` items key1..keyN (value "value<i>", flags i).
sub store_items {
    my ($sock, $prefix, $n) = @_;
    my $ok = 0;
    for my $i (1 .. $n) {
        my $v = "value$i";
        print $sock "set $prefix$i $i 0 " . length($v) . "\r\n$v\r\n";
        $ok++ if (scalar <$sock> // '') eq "STORED\r\n";
    }
    return $ok;
}

# A good FILE with `n` items a1..aN, written by a server at SIGTERM.
# Returns its bytes.
sub make_dump {
    my ($file, $n) = @_;
    my $srv = new_memcached(['-F', $file]);
    is(store_items($srv->sock, 'a', $n), $n, "setup: $n items stored");
    is($srv->stop, 0, 'setup: SIGTERM writes the dump, exit 0');
    my $bytes = slurp($file);
    is(trailer_records($bytes), $n, "setup: FILE holds $n records");
    return $bytes // '';
}

# Starts the dump now and waits until the server reports the child running;
# returns the child's pid (undef if none shows up).
sub start_slow_dump {
    my ($srv, $name) = @_;
    kill 'USR2', $srv->pid;
    my $st = wait_stat($srv->sock, 'dump_in_progress', 1);
    is($st->{dump_in_progress}, 1, "$name: dump_in_progress 1 after USR2");
    my @kids = @{ wait_for(sub { my @k = children_of($srv->pid); @k ? \@k : undef }, 30) // [] };
    is(scalar @kids, 1, "$name: the server has one child, the dump");
    return $kids[0];
}

# ---- FILE.tmp cannot be created: a failed dump, then a good one ----
{
    my $file = fresh_file();
    my $before = make_dump($file, 3);
    my $srv = new_memcached(['-F', $file]);
    my $sock = $srv->sock;
    my $st = stats_of($sock);
    is("$st->{load_status} $st->{load_items}", 'ok 3', 'tmp blocked: FILE loaded, 3 items');
    is(store_items($sock, 'b', 1), 1, 'tmp blocked: one more item stored');

    # A non-empty directory where the dump wants its FILE.tmp: neither
    # removing nor creating it works, even for root.
    make_path("$file.tmp/inner");
    spew("$file.tmp/inner/keep", "keep\n");
    kill 'USR2', $srv->pid;
    $st = wait_stat($sock, 'dumps_total', 1);
    is(join(' ', map { "$_=" . ($st->{$_} // '') } qw(dumps_total dumps_failed last_dump_status dump_in_progress)),
       'dumps_total=1 dumps_failed=1 last_dump_status=failed dump_in_progress=0',
       'tmp blocked: USR2 -> dumps_failed 1, last_dump_status failed');
    is("$st->{last_dump_time} $st->{last_dump_items} $st->{last_dump_bytes}", '0 0 0',
       'tmp blocked: last_dump_time/items/bytes still say no successful dump');
    is(slurp($file), $before, 'tmp blocked: FILE byte for byte unchanged');
    like($srv->output, qr/^[^\n]*\Q$file\E[^\n]*fail[^\n]*\Q$file.tmp\E/m,
         'tmp blocked: stderr says the dump failed and names FILE.tmp (the reason)');
    is(slurp("$file.tmp/inner/keep"), "keep\n", 'tmp blocked: what was at FILE.tmp is left alone');
    is(send_recv($sock, "set after 0 0 2\r\nok\r\n"), "STORED\r\n", 'tmp blocked: the server keeps serving');
    mem_get_is($sock, 'a2', 'value2', 'tmp blocked: loaded items still served', 2);

    remove_tree("$file.tmp");
    kill 'USR2', $srv->pid;
    $st = wait_stat($sock, 'dumps_total', 2);
    is(join(' ', map { "$_=" . ($st->{$_} // '') } qw(dumps_total dumps_failed last_dump_status)),
       'dumps_total=2 dumps_failed=1 last_dump_status=ok',
       'tmp unblocked: the next USR2 succeeds');
    my $second = slurp($file);
    is(trailer_records($second), 5, 'tmp unblocked: FILE is the new dump (5 records)');
    is("$st->{last_dump_items} $st->{last_dump_bytes}", '5 ' . length($second // ''),
       'tmp unblocked: last_dump_items and last_dump_bytes describe it');
    ok(!-e "$file.tmp", 'tmp unblocked: no FILE.tmp left');

    # A failure after a success keeps the success's figures.
    my $good_time = $st->{last_dump_time};
    make_path("$file.tmp/inner");
    spew("$file.tmp/inner/keep", "keep\n");
    kill 'USR2', $srv->pid;
    $st = wait_stat($sock, 'dumps_total', 3);
    is(join(' ', map { "$_=" . ($st->{$_} // '') } qw(dumps_total dumps_failed last_dump_status)),
       'dumps_total=3 dumps_failed=2 last_dump_status=failed', 'tmp blocked again: a second failure counted');
    is("$st->{last_dump_time} $st->{last_dump_items} $st->{last_dump_bytes}",
       "$good_time 5 " . length($second // ''), 'tmp blocked again: the last successful dump still described');
    is(slurp($file), $second, 'tmp blocked again: FILE byte for byte the last good dump');

    # The last dump at a stop fails too: exit status 74, FILE unchanged.
    my $status = $srv->stop;
    is(defined $status ? ($status & 127 ? 'signal ' . ($status & 127) : $status >> 8) : 'still running', 74,
       'tmp blocked at SIGTERM: the last dump fails, exit status 74');
    is(slurp($file), $second, 'tmp blocked at SIGTERM: FILE byte for byte unchanged');
}

# ---- the rename fails: FILE replaced by a non-empty directory meanwhile ----
{
    my $file = fresh_file();
    make_dump($file, 2);
    my $srv = new_memcached(['-F', $file]);
    my $sock = $srv->sock;
    unlink $file;
    make_path("$file/inner");
    spew("$file/inner/keep", "keep\n");
    kill 'USR2', $srv->pid;
    my $st = wait_stat($sock, 'dumps_total', 1);
    is("$st->{dumps_failed} $st->{last_dump_status}", '1 failed', 'rename fails: dumps_failed 1, last_dump_status failed');
    ok(!-e "$file.tmp", 'rename fails: the FILE.tmp written is removed');
    is(slurp("$file/inner/keep"), "keep\n", 'rename fails: what is at FILE is untouched');
    like($srv->output, qr/^[^\n]*\Q$file\E[^\n]*fail/m, 'rename fails: stderr says the dump failed');
    $srv->stop('KILL');
}

# ---- the dump child killed ----
{
    my $file = fresh_file();
    my $before = make_dump($file, 4);
    my $srv = do { local $ENV{MEMCACHED_DEBUG_DUMP_DELAY_MS} = $LONG_DELAY_MS; new_memcached(['-F', $file]) };
    my $sock = $srv->sock;
    is(store_items($sock, 'b', 2), 2, 'child killed: two more items stored');
    my $child = start_slow_dump($srv, 'child killed');
    SKIP: {
        skip 'child killed: no dump child found', 7 unless $child;
        # A half-written FILE.tmp, as the child would leave it if killed in
        # the middle of writing: a killed child cannot clean up, so the
        # server must.
        spew("$file.tmp", substr($before, 0, 100));
        kill 'KILL', $child;
        my $st = wait_stat($sock, 'dumps_total', 1);
        is(join(' ', map { "$_=" . ($st->{$_} // '') } qw(dumps_total dumps_failed last_dump_status dump_in_progress)),
           'dumps_total=1 dumps_failed=1 last_dump_status=failed dump_in_progress=0',
           'child killed: counted as a failed dump');
        is(slurp($file), $before, 'child killed: FILE byte for byte unchanged');
        ok(!-e "$file.tmp", 'child killed: no FILE.tmp left (a half-written one removed)');
        like($srv->output, qr/^[^\n]*\Q$file\E[^\n]*fail[^\n]*(?:signal 9|SIGKILL|killed)/mi,
             'child killed: stderr says the dump failed and why (killed by signal 9)');
        is(send_recv($sock, "set after 0 0 2\r\nok\r\n"), "STORED\r\n", 'child killed: the server keeps serving');
        is(scalar(my @left = children_of($srv->pid)), 0, 'child killed: no child left');
        is($srv->is_running, 1, 'child killed: the server still runs');
    }
    $srv->stop('KILL');
}

# ---- the server killed during a dump ----
{
    my $file = fresh_file();
    my $before = make_dump($file, 5);
    my $srv = do { local $ENV{MEMCACHED_DEBUG_DUMP_DELAY_MS} = $LONG_DELAY_MS; new_memcached(['-F', $file]) };
    my $sock = $srv->sock;
    is(store_items($sock, 'b', 3), 3, 'server killed: three more items stored');
    my $child = start_slow_dump($srv, 'server killed');
    $srv->stop('KILL');
    SKIP: {
        skip 'server killed: no dump child found', 1 unless $child;
        is(wait_for(sub { alive($child) ? 0 : 'gone' }, 30) || 'still running', 'gone',
           'server killed: the dump child goes away with it');
    }
    is(slurp($file), $before, 'server killed: FILE is the previous dump, byte for byte');

    my $next = new_memcached(['-F', $file]);
    my $s2 = $next->sock;
    my $st = stats_of($s2);
    is("$st->{load_status} $st->{load_items}", 'ok 5', 'server killed: a new server loads FILE, 5 items');
    mem_get_is($s2, "a$_", "value$_", "server killed: a$_ back", $_) for 1 .. 5;
    mem_get_is($s2, 'b1', undef, 'server killed: items stored after the previous dump are not back');
}

# ---- the dump child holds none of the server's sockets ----
{
    my $file = fresh_file();
    make_dump($file, 1);
    my $srv = do { local $ENV{MEMCACHED_DEBUG_DUMP_DELAY_MS} = $LONG_DELAY_MS; new_memcached(['-F', $file]) };
    my $client = $srv->new_sock;
    like(send_recv($client, "version\r\n"), qr/\AVERSION /, 'sockets: a client connected before the dump');
    my $child = start_slow_dump($srv, 'sockets');
    SKIP: {
        skip 'sockets: no dump child found', 4 unless $child;
        my @socks = @{ wait_for(sub { my @s = sockets_of($child); @s ? undef : \@s }, 30) // [sockets_of($child)] };
        is(join(' ', @socks), '', 'sockets: the dump child has no socket open (no listener, no client)');
        print $client "quit\r\n";
        my $n = sysread($client, my $buf, 1);
        is(defined $n ? $n : "undef ($!)", 0, 'sockets: a client that quits during the dump sees EOF at once');
        my $st = stats_of($srv->sock);
        is($st->{dump_in_progress}, 1, 'sockets: ... while the dump was still running');
        ok(alive($child), 'sockets: the dump child was still there');
    }
    $srv->stop('KILL');
}

# ---- no permission to write in the directory ----
SKIP: {
    skip 'running as root: a read-only directory does not stop root writing', 3 if $< == 0;
    my $file = fresh_file();
    my $before = make_dump($file, 2);
    my ($dir) = $file =~ m{\A(.*)/};
    my $srv = new_memcached(['-F', $file]);
    chmod 0555, $dir;
    kill 'USR2', $srv->pid;
    my $st = wait_stat($srv->sock, 'dumps_total', 1);
    chmod 0755, $dir;
    is("$st->{dumps_failed} $st->{last_dump_status}", '1 failed', 'read-only directory: the dump fails');
    is(slurp($file), $before, 'read-only directory: FILE byte for byte unchanged');
    like($srv->output, qr/^[^\n]*\Q$file\E[^\n]*fail/m, 'read-only directory: stderr says the dump failed');
    $srv->stop('KILL');
}

done_testing();
