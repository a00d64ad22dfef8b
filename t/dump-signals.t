#!/usr/bin/perl
# When the dump file is written (doc/dump.md, "Writing a dump" and "-e
# FILE"): SIGUSR2 (the file, its mode, its bytes, the stats), the snapshot
# taken at the fork, coalesced signals, the child closing connections and
# dying with the server, failed dumps, the last dump at a stop (SIGTERM,
# SIGINT, shutdown, shutdown graceful, SIGUSR1) or none with
# -o no_dump_on_shutdown, -o dump_interval, memcached's -e FILE, and what
# -F means with and without a file name.
#
# Nothing sleeps: every wait polls `stats` (or /proc, or the process) with a
# 30 s deadline that only a broken server reaches. MEMCACHED_DEBUG_DUMP_DELAY_MS
# holds the dump child before it writes, so a test can act while it runs.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use MIME::Base64 qw(encode_base64);
use Errno qw(EAGAIN EWOULDBLOCK);
use Time::HiRes qw(time usleep);
use lib 't/lib';
use Repl;
use MemcachedTest;
use DumpFile;

require_debug_binary();

my $dir = tempdir('mcdump-sig-XXXXXX', DIR => '/tmp', CLEANUP => 1);

sub exit_status_text {
    my $st = shift;
    return 'still running' unless defined $st;
    return 'killed by signal ' . ($st & 127) if $st & 127;
    return 'exit ' . ($st >> 8);
}

# Starts a server whose dump children wait `ms` milliseconds before writing.
sub new_delayed {
    my ($ms, $args) = @_;
    local $ENV{MEMCACHED_DEBUG_DUMP_DELAY_MS} = $ms;
    return new_memcached($args);
}

# The pids whose parent is `pid` (the dump child of a server).
sub children_of {
    my $pid = shift;
    my @kids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open(my $fh, '<', $stat) or next;
        my $line = <$fh> // next;
        # pid (comm) state ppid ...; comm may hold spaces and parentheses
        push @kids, $1 if $line =~ /^(\d+) \(.*\) \S+ (\d+) / && $2 == $pid;
    }
    return @kids;
}

# Waits until process `pid` is gone from /proc (a zombie counts as gone);
# true if it went within `timeout` seconds.
sub wait_gone {
    my ($pid, $timeout) = @_;
    my $deadline = time + ($timeout // 30);
    while (time < $deadline) {
        my $stat = slurp("/proc/$pid/stat");
        return 1 if !defined $stat || $stat =~ /^\d+ \(.*\) Z /;
        usleep(20_000);
    }
    return 0;
}

# The number of sockets process `pid` holds open (undef if it is gone).
sub sockets_of {
    my $pid = shift;
    opendir(my $dh, "/proc/$pid/fd") or return undef;
    my $n = grep { (readlink("/proc/$pid/fd/$_") // '') =~ /^socket:/ } readdir $dh;
    return $n;
}

# Reads one line, telling a closed connection ('EOF') from a read that
# timed out (SO_RCVTIMEO, 30 s: 'timeout').
sub read_or_eof {
    my $sock = shift;
    my $buf = '';
    my $n = sysread($sock, $buf, 4096);
    return 'EOF' if defined $n && $n == 0;
    return 'timeout' if !defined $n && ($! == EAGAIN || $! == EWOULDBLOCK);
    return defined $n ? $buf : "error: $!";
}

# CRC-32C (Castagnoli, reflected), as doc/dump-format.md defines it.
# Parses a dump file into its header, blocks and records; dies on anything
# it does not expect (the caller catches that).
sub parse_dump {
    my $data = shift;
    my %d;
    die "short file\n" if length $data < 128;
    my $hdr = substr($data, 0, 96);
    @d{qw(magic version hlen time cas flush_at items max_item rflags roffset replid reserved hcrc)} =
        unpack('a8 V V q< Q< q< Q< V V Q< H40 a8 V', $hdr);
    $d{hcrc_ok} = crc32c(substr($hdr, 0, 92)) == $d{hcrc};
    my $pos = 96;
    my $end = length($data) - 32;
    my $seq = 0;
    while ($pos < $end) {
        my ($bm, $bseq, $plen, $nrec, $pcrc, $bcrc) = unpack('a4 V V V V V', substr($data, $pos, 24));
        die "block $seq: magic $bm\n" unless $bm eq 'MCBK';
        die "block $seq: header crc\n" unless crc32c(substr($data, $pos, 20)) == $bcrc;
        die "block $seq: sequence $bseq\n" unless $bseq == $seq;
        my $payload = substr($data, $pos + 24, $plen);
        die "block $seq: payload crc\n" unless crc32c($payload) == $pcrc;
        my $p = 0;
        for (1 .. $nrec) {
            my ($klen, $rflags, $res, $cflags, $vlen, $age, $exp, $cas) =
                unpack('C C v V V V q< Q<', substr($payload, $p, 32));
            my $key = substr($payload, $p + 32, $klen);
            my $val = substr($payload, $p + 32 + $klen, $vlen);
            push @{$d{records}}, { key => $key, rflags => $rflags, flags => $cflags,
                                   value => $val, age => $age, exptime => $exp, cas => $cas };
            $p += 32 + $klen + $vlen;
        }
        die "block $seq: $p bytes of records in $plen\n" unless $p == $plen;
        $d{payload_bytes} += $plen;
        $pos += 24 + $plen;
        $seq++;
    }
    $d{blocks} = $seq;
    @d{qw(tmagic tblocks trecords tbytes treserved tcrc)} =
        unpack('a4 V Q< Q< V V', substr($data, $end, 32));
    $d{tcrc_ok} = crc32c(substr($data, $end, 28)) == $d{tcrc};
    return \%d;
}

is(sprintf('%08x', crc32c('123456789')), 'e3069283', 'the test\'s own crc32c matches the check value');

# ======================================================================
# SIGUSR2 writes a dump: the file, its bytes, the stats.
# ======================================================================

{
    my $f = "$dir/usr2.dump";
    open(my $junk, '>', "$f.tmp") or die;
    print $junk "leftover of a crashed dump\n";
    close $junk;
    # Flat LRU: the segmented LRU's maintainer clears ACTIVE as it moves
    # items, and this block checks that the record keeps the flag.
    my $srv = new_memcached("-F $f -o no_lru_maintainer");
    my $s = $srv->sock;
    is(stats_of($s)->{load_status}, 'missing', 'a leftover FILE.tmp is never loaded: load_status missing');
    my %val;
    for my $i (0 .. 9) {
        $val{"k$i"} = "value-$i-" . ('x' x (10 * $i));
        is(send_recv($s, "set k$i $i 0 " . length($val{"k$i"}) . "\r\n$val{\"k$i\"}\r\n"), "STORED\r\n", "set k$i");
    }
    is(meta($s, "mg k1 v\r\n"), "VA " . length($val{k1}) . "\r\n$val{k1}\r\n", 'fetch k1 once');
    is(meta($s, "mg k2 v\r\n"), "VA " . length($val{k2}) . "\r\n$val{k2}\r\n", 'fetch k2 ...');
    is(meta($s, "mg k2 v\r\n"), "VA " . length($val{k2}) . "\r\n$val{k2}\r\n", '... and again');
    is(meta($s, "md k3 I\r\n"), "HD\r\n", 'md k3 I: stale');
    is(meta($s, "md k4 I\r\n"), "HD\r\n", 'md k4 I: stale');
    is(meta($s, "mg k4\r\n"), "HD X W\r\n", 'mg k4: stale, the win token is handed out');
    my $bkey = "\x00 b\xff";
    my $b64 = encode_base64($bkey, '');
    $val{$bkey} = 'binkey';
    like(meta($s, "ms $b64 6 b c\r\nbinkey\r\n"), qr/^HD c\d+\r\n\z/, 'ms of a base64 key');
    # The cas of each item, read with u so that nothing is marked fetched;
    # k3 is left alone (any mg would hand out its win token).
    my %cas;
    for my $k (grep { /^k/ && $_ ne 'k3' } keys %val) {
        ($cas{$k}) = meta($s, "mg $k c u\r\n") =~ /^HD c(\d+)/;
    }
    ($cas{$bkey}) = meta($s, "mg $b64 b c u\r\n") =~ / c(\d+)/;
    my $last_cas = $cas{$bkey};     # the last store

    my $before = stats_of($s);
    is($before->{dumps_total}, '0', 'before SIGUSR2: dumps_total 0');
    is($before->{last_dump_status}, 'none', 'before SIGUSR2: last_dump_status none');
    kill 'USR2', $srv->pid;
    my $st = wait_stat($s, 'dumps_total', 1);
    is($st->{dumps_total}, '1', 'SIGUSR2: dumps_total 1');
    is($st->{dump_in_progress}, '0', 'SIGUSR2: dump_in_progress 0 once it is counted');
    is($st->{dumps_failed}, '0', 'SIGUSR2: dumps_failed 0');
    is($st->{last_dump_status}, 'ok', 'SIGUSR2: last_dump_status ok');
    is($st->{last_dump_items}, '11', 'SIGUSR2: last_dump_items 11');
    ok($st->{last_dump_time} >= $before->{time} && $st->{last_dump_time} <= $st->{time},
       "SIGUSR2: last_dump_time ($st->{last_dump_time}) between the stats times before and after");

    {
        print $s "stats\r\n";
        my @names = read_until_end($s) =~ /^STAT (\S+) /mg;
        is(join(' ', @names[-16 .. -1]),
           join(' ', qw(dump_in_progress dumps_total dumps_failed last_dump_status last_dump_time
                        last_dump_duration_us last_dump_items last_dump_bytes last_fork_us
                        load_status load_items load_bytes load_expired load_too_large
                        load_no_memory load_duration_us)),
           'stats ends with the dump and load fields of doc/dump.md, in its order');
    }
    ok(-f $f, 'SIGUSR2: the dump file exists');
    is(sprintf('%04o', (stat $f)[2] & 07777), '0600', 'the dump file has mode 0600');
    ok(!-e "$f.tmp", 'no FILE.tmp is left (the leftover was replaced, then renamed)');
    my $data = slurp($f) // '';
    is(substr($data, 0, 8), 'MEMCDUMP', 'the file starts with MEMCDUMP');
    is($st->{last_dump_bytes}, length $data, 'last_dump_bytes is the file size (' . length($data) . ')');
    my $payload = 0;
    $payload += 32 + length($_) + length($val{$_}) for keys %val;
    is(length $data, 96 + 24 + $payload + 32,
       "file size: header, one block of $payload bytes of records, trailer");

    my $d = eval { parse_dump($data) };
    is($@, '', 'the file parses: every block checksum and record length holds');
    $d //= {};
    is($d->{version}, 2, 'header: version 2');
    is($d->{hlen}, 96, 'header: length 96');
    ok($d->{hcrc_ok}, 'header: checksum');
    is($d->{time}, $st->{last_dump_time}, 'header: the instant is last_dump_time');
    is($d->{cas}, $last_cas, "header: the CAS counter is the last cas handed out ($last_cas)");
    is($d->{flush_at}, 0, 'header: no pending flush');
    is($d->{items}, 11, 'header: 11 items in the cache');
    is($d->{max_item}, 1048576, 'header: -I 1048576');
    is($d->{reserved}, "\0" x 8, 'header: reserved bytes zero');
    is($d->{rflags}, 1, 'header: a replication position (a master)');
    is($d->{replid}, repl_stats($s)->{repl_id}, "header: the server's replication id");
    is($d->{roffset}, repl_stats($s)->{repl_offset}, "header: and its offset");
    is($d->{blocks}, 1, 'one block');
    is($d->{tmagic}, 'MCEN', 'trailer: magic MCEN');
    ok($d->{tcrc_ok}, 'trailer: checksum');
    is($d->{tblocks}, 1, 'trailer: 1 block');
    is($d->{trecords}, 11, 'trailer: 11 records');
    is($d->{tbytes}, $payload, "trailer: $payload payload bytes");
    my %got = map { $_->{key} => $_ } @{$d->{records} // []};
    my %want_rflags = (k1 => 2, k2 => 6, k3 => 8, k4 => 26, $bkey => 1);
    my @bad;
    for my $k (sort keys %val) {
        my $r = $got{$k} or do { push @bad, "$k: no record"; next };
        my $flags = $k =~ /^k(\d)$/ ? $1 : 0;
        my $want = join(' ', $flags, $val{$k}, 0, $cas{$k} // $r->{cas}, $want_rflags{$k} // 0);
        my $have = join(' ', @$r{qw(flags value exptime cas rflags)});
        push @bad, "$k: want [$want] got [$have]" unless $have eq $want;
    }
    is_deeply(\@bad, [], 'records: key, client flags, value, no expiry, cas and record flags '
              . '(1 base64, 2 fetched, 4 active, 8 stale, 16 win token; k4 was read: 2|8|16)');
}

# ======================================================================
# The dump shows the cache at the fork: later writes are not in it.
# ======================================================================

{
    my $f = "$dir/fork.dump";
    my $srv = new_delayed(3000, "-F $f -o no_dump_on_shutdown");
    my $s = $srv->sock;
    is(send_recv($s, "set pre1 0 0 2\r\np1\r\n"), "STORED\r\n", 'set pre1');
    is(send_recv($s, "set pre2 0 0 3\r\nold\r\n"), "STORED\r\n", 'set pre2');
    is(send_recv($s, "set doomed 0 0 1\r\nd\r\n"), "STORED\r\n", 'set doomed');
    kill 'USR2', $srv->pid;
    my $st = wait_stat($s, 'dump_in_progress', 1);
    is($st->{dump_in_progress}, '1', 'SIGUSR2 with a delayed child: dump_in_progress 1');
    is($st->{dumps_total}, '0', 'while it runs: dumps_total 0');
    is(send_recv($s, "set post1 0 0 2\r\nq1\r\n"), "STORED\r\n", 'while the dump runs: set post1 is served');
    is(send_recv($s, "set pre2 0 0 3\r\nnew\r\n"), "STORED\r\n", 'while the dump runs: set pre2 to new');
    is(send_recv($s, "delete doomed\r\n"), "DELETED\r\n", 'while the dump runs: delete doomed');
    $st = wait_stat($s, 'dumps_total', 1);
    is($st->{dumps_total}, '1', 'the delayed dump finished: dumps_total 1');
    is($st->{last_dump_status}, 'ok', 'last_dump_status ok');
    is($st->{last_dump_items}, '3', 'last_dump_items 3: the items at the fork');
    ok($st->{last_dump_duration_us} >= 3_000_000,
       "last_dump_duration_us ($st->{last_dump_duration_us}) covers the child's 3 s delay");
    my $bytes = slurp($f);
    is(exit_status_text($srv->stop), 'exit 0', 'stop with no_dump_on_shutdown: exit 0');
    ok(defined $bytes && slurp($f) eq $bytes, 'no_dump_on_shutdown: the file is unchanged by the stop');

    $srv = new_memcached("-F $f -o no_dump_on_shutdown");
    $s = $srv->sock;
    is(stats_of($s)->{load_items}, '3', 'restart: load_items 3');
    print $s "get pre1 pre2 doomed post1\r\n";
    is(read_until_end($s), "VALUE pre1 0 2\r\np1\r\nVALUE pre2 0 3\r\nold\r\nVALUE doomed 0 1\r\nd\r\nEND\r\n",
       'restart: the cache as it was at the fork (pre2 old, doomed there, post1 absent)');
}

# ======================================================================
# SIGUSR2 while a dump runs asks for exactly one more.
# ======================================================================

{
    my $f = "$dir/coalesce.dump";
    my $srv = new_delayed(3000, "-F $f");
    my $s = $srv->sock;
    is(send_recv($s, "set a 0 0 1\r\na\r\n"), "STORED\r\n", 'set a');
    kill 'USR2', $srv->pid;
    my $st = wait_stat($s, 'dump_in_progress', 1);
    is($st->{dump_in_progress}, '1', 'first SIGUSR2: dump_in_progress 1');
    kill 'USR2', $srv->pid for 1 .. 3;
    $st = wait_stat($s, 'dumps_total', sub { defined $_[0] && $_[0] >= 2 });
    is($st->{dumps_total}, '2', 'three SIGUSR2 during a dump: exactly one more (dumps_total 2)');
    is($st->{dump_in_progress}, '0', 'and no third dump started (dump_in_progress 0 in the same reply)');
    is($st->{dumps_failed}, '0', 'dumps_failed 0');
    # No request is left pending: one more signal makes exactly one more dump.
    kill 'USR2', $srv->pid;
    $st = wait_stat($s, 'dumps_total', sub { defined $_[0] && $_[0] >= 3 });
    is($st->{dumps_total}, '3', 'one more SIGUSR2 later: dumps_total 3');
    is($st->{dump_in_progress}, '0', 'and nothing more runs after it');
    is(stats_of($s)->{dumps_total}, '3', 'dumps_total stays 3');
}

# ======================================================================
# The child closes inherited connections and dies with the server; a
# killed server leaves the previous file intact.
# ======================================================================

{
    my $f = "$dir/child.dump";
    my $srv = new_memcached("-F $f");
    my $s = $srv->sock;
    is(send_recv($s, "set old 0 0 3\r\nold\r\n"), "STORED\r\n", 'set old');
    is(exit_status_text($srv->stop), 'exit 0', 'stop: the first dump is written');
    my $first = slurp($f);
    ok(defined $first, 'the first dump exists');

    $srv = new_delayed(60_000, "-F $f");
    $s = $srv->sock;
    my $other = $srv->new_sock;
    like(send_recv($other, "version\r\n"), qr/^VERSION /, 'a second connection is open before the fork');
    is(send_recv($s, "set new 0 0 3\r\nnew\r\n"), "STORED\r\n", 'set new');
    kill 'USR2', $srv->pid;
    my $st = wait_stat($s, 'dump_in_progress', 1);
    is($st->{dump_in_progress}, '1', 'a dump child waits 60 s before writing');
    my @kids = children_of($srv->pid);
    is(scalar @kids, 1, 'the server has one child process');
    ok(sockets_of($srv->pid) >= 3, 'the server holds its listener and two connections');
    my $socks;
    my $deadline = time + 30;
    while (time < $deadline) {
        $socks = @kids ? sockets_of($kids[0]) : undef;
        last if !defined $socks || $socks == 0;
        usleep(20_000);
    }
    is($socks, 0, 'the dump child holds no socket: inherited connections and listener closed');
    print $other "quit\r\n";
    is(read_or_eof($other), 'EOF', 'quit during the dump: the client sees the close '
       . '(the child does not hold the connection open)');
    kill 'KILL', $srv->pid;
    $srv->wait_exit(10);
    ok(@kids && wait_gone($kids[0]), 'SIGKILL of the server: the dump child dies with it');
    ok(defined $first && slurp($f) eq $first, 'the previous dump file is intact, byte for byte');
}

# ======================================================================
# A stop while a dump runs abandons it and writes the last dump itself.
# ======================================================================

{
    my $f = "$dir/abandon.dump";
    my $srv = new_delayed(60_000, "-F $f");
    my $s = $srv->sock;
    is(send_recv($s, "set before 0 0 1\r\nb\r\n"), "STORED\r\n", 'set before');
    kill 'USR2', $srv->pid;
    is(wait_stat($s, 'dump_in_progress', 1)->{dump_in_progress}, '1', 'a slow dump runs');
    my @kids = children_of($srv->pid);
    is(send_recv($s, "set after 0 0 1\r\na\r\n"), "STORED\r\n", 'set after, during the dump');
    is(exit_status_text($srv->stop), 'exit 0', 'SIGTERM during the dump: exit 0 without waiting for it');
    ok(@kids && wait_gone($kids[0]), 'the abandoned dump child is gone');
    $srv = new_memcached("-F $f -o no_dump_on_shutdown");
    $s = $srv->sock;
    is(stats_of($s)->{load_items}, '2', 'restart: load_items 2');
    print $s "get before after\r\n";
    is(read_until_end($s), "VALUE before 0 1\r\nb\r\nVALUE after 0 1\r\na\r\nEND\r\n",
       'restart: the last dump at the stop has the write made during the abandoned dump');
}

# ======================================================================
# A failed dump: the file is untouched, the failure counted and logged.
# ======================================================================

{
    my $f = "$dir/fail.dump";
    my $srv = new_memcached("-F $f");
    is(send_recv($srv->sock, "set one 0 0 1\r\n1\r\n"), "STORED\r\n", 'set one');
    $srv->stop;
    my $first = slurp($f);

    $srv = new_delayed(60_000, "-F $f -o no_dump_on_shutdown");
    my $s = $srv->sock;
    is(send_recv($s, "set two 0 0 1\r\n2\r\n"), "STORED\r\n", 'set two');
    kill 'USR2', $srv->pid;
    is(wait_stat($s, 'dump_in_progress', 1)->{dump_in_progress}, '1', 'a slow dump runs');
    my @kids = children_of($srv->pid);
    is(scalar @kids, 1, 'one dump child');
    kill 'KILL', $kids[0] if @kids;
    my $st = wait_stat($s, 'dumps_total', 1);
    is($st->{dumps_total}, '1', 'child killed: the dump is counted (dumps_total 1)');
    is($st->{dumps_failed}, '1', 'child killed: dumps_failed 1');
    is($st->{last_dump_status}, 'failed', 'child killed: last_dump_status failed');
    is($st->{last_dump_items}, '0', 'child killed: last_dump_items still that of no successful dump');
    is($st->{dump_in_progress}, '0', 'child killed: dump_in_progress 0');
    ok(defined $first && slurp($f) eq $first, 'child killed: the file is untouched');
    ok(!-e "$f.tmp", 'child killed: no FILE.tmp left');
    like($srv->output, qr/dump.*fail|fail.*dump/i, 'child killed: the failure is logged without -v');
    like(send_recv($s, "version\r\n"), qr/^VERSION /, 'the server goes on serving');

    # A dump that cannot create its file (the directory is gone): the
    # SIGUSR2 dump fails, and the last dump at a stop fails with exit 74.
    my $sub = "$dir/vanishing";
    mkdir $sub or die "mkdir $sub: $!";
    my $g = "$sub/x.dump";
    $srv = new_memcached("-F $g");
    $s = $srv->sock;
    is(send_recv($s, "set x 0 0 1\r\nx\r\n"), "STORED\r\n", 'set x');
    ok(rmdir($sub), 'the dump file\'s directory is removed under the server');
    kill 'USR2', $srv->pid;
    $st = wait_stat($s, 'dumps_total', 1);
    is($st->{dumps_failed}, '1', 'SIGUSR2 without a directory: dumps_failed 1');
    is($st->{last_dump_status}, 'failed', 'SIGUSR2 without a directory: last_dump_status failed');
    is(exit_status_text($srv->stop), 'exit 74', 'SIGTERM and the last dump fails: exit 74 (EX_IOERR)');
}

# ======================================================================
# The last dump at a stop.
# ======================================================================

my @stops = (
    ['SIGTERM', sub { kill 'TERM', $_[0]->pid }],
    ['SIGINT', sub { kill 'INT', $_[0]->pid }],
    ['SIGUSR1', sub { kill 'USR1', $_[0]->pid }],
    ['shutdown', sub { print { $_[0]->sock } "shutdown\r\n" }],
    ['shutdown graceful', sub { print { $_[0]->sock } "shutdown graceful\r\n" }],
);
for my $case (@stops) {
    my ($how, $stop) = @$case;
    (my $name = $how) =~ tr/ /_/;
    my $f = "$dir/stop-$name.dump";
    my $srv = new_memcached("-F $f -A");
    my $s = $srv->sock;
    is(send_recv($s, "set how 0 0 " . length($how) . "\r\n$how\r\n"), "STORED\r\n", "$how: set how");
    is(send_recv($s, "set other 3 0 1\r\no\r\n"), "STORED\r\n", "$how: set other");
    ok(!-e $f, "$how: no dump file before the stop");
    $stop->($srv);
    is(exit_status_text($srv->wait_exit(30)), 'exit 0', "$how: exit 0");
    ok(-f $f, "$how: the last dump was written");
    $srv = new_memcached("-F $f -o no_dump_on_shutdown");
    $s = $srv->sock;
    is(stats_of($s)->{load_items}, '2', "$how: restart loads 2 items");
    print $s "get how other\r\n";
    is(read_until_end($s), "VALUE how 0 " . length($how) . "\r\n$how\r\nVALUE other 3 1\r\no\r\nEND\r\n",
       "$how: the items are back");
    $srv->stop;
}

{
    my $f = "$dir/nodump.dump";
    my $srv = new_memcached("-F $f -o no_dump_on_shutdown");
    my $s = $srv->sock;
    is(stats_of($s, 'settings')->{dump_on_shutdown}, 'no', 'stats settings: dump_on_shutdown no');
    is(send_recv($s, "set a 0 0 1\r\na\r\n"), "STORED\r\n", 'set a');
    kill 'USR2', $srv->pid;
    is(wait_stat($s, 'dumps_total', 1)->{last_dump_status}, 'ok', 'no_dump_on_shutdown: SIGUSR2 still dumps');
    my $bytes = slurp($f);
    is(send_recv($s, "set b 0 0 1\r\nb\r\n"), "STORED\r\n", 'set b after the dump');
    is(send_recv($s, "delete a\r\n"), "DELETED\r\n", 'delete a after the dump');
    is(exit_status_text($srv->stop), 'exit 0', 'no_dump_on_shutdown: SIGTERM exits 0');
    ok(defined $bytes && slurp($f) eq $bytes, 'no_dump_on_shutdown: the file is unchanged, byte for byte');
    ok(!-e "$f.tmp", 'no_dump_on_shutdown: no FILE.tmp');
}

# ======================================================================
# -o dump_interval
# ======================================================================

{
    my $f = "$dir/interval.dump";
    my $srv = new_memcached("-F $f -o dump_interval=1");
    my $s = $srv->sock;
    is(stats_of($s, 'settings')->{dump_interval}, '1', 'stats settings: dump_interval 1');
    is(send_recv($s, "set a 0 0 1\r\na\r\n"), "STORED\r\n", 'set a');
    my $st = wait_stat($s, 'dumps_total', sub { defined $_[0] && $_[0] >= 2 });
    ok($st->{dumps_total} >= 2, "dump_interval=1: dumps without a signal (dumps_total $st->{dumps_total})");
    is($st->{dumps_failed}, '0', 'dump_interval=1: dumps_failed 0');
    is($st->{last_dump_status}, 'ok', 'dump_interval=1: last_dump_status ok');
    ok(-f $f, 'dump_interval=1: the file exists');
}

# ======================================================================
# -e FILE: memcached's restartable cache.
# ======================================================================

{
    my $m = "$dir/cache.mem";
    my $srv = new_memcached("-e $m");
    my $s = $srv->sock;
    is(stats_of($s, 'settings')->{memory_file}, $m, 'stats settings: memory_file is the -e file');
    is(stats_of($s)->{load_status}, 'missing', '-e, no file: load_status missing');
    is(send_recv($s, "set a 0 0 1\r\na\r\n"), "STORED\r\n", '-e: set a');
    is(send_recv($s, "set b 9 0 2\r\nbb\r\n"), "STORED\r\n", '-e: set b');
    kill 'USR2', $srv->pid;
    like(send_recv($s, "version\r\n"), qr/^VERSION /, '-e: SIGUSR2, the server goes on');
    ok(!-e $m, '-e: SIGUSR2 wrote no file');
    kill 'USR1', $srv->pid;
    is(exit_status_text($srv->wait_exit(30)), 'exit 0', '-e: SIGUSR1 (graceful) exits 0');
    ok(-f $m, '-e: SIGUSR1 wrote the file');
    is(substr(slurp($m) // '', 0, 8), 'MEMCDUMP', '-e: it is a dump file');

    $srv = new_memcached("-e $m");
    $s = $srv->sock;
    my $st = stats_of($s);
    is($st->{load_status}, 'ok', '-e: restart, load_status ok');
    is($st->{load_items}, '2', '-e: restart, load_items 2');
    ok(!-e $m, '-e: the file is removed once loaded');
    print $s "get a b\r\n";
    is(read_until_end($s), "VALUE a 0 1\r\na\r\nVALUE b 9 2\r\nbb\r\nEND\r\n", '-e: the items are back');
    is(exit_status_text($srv->stop('TERM')), 'exit 0', '-e: SIGTERM exits 0');
    ok(!-e $m, '-e: SIGTERM wrote no file');

    $srv = new_memcached("-e $m");
    $s = $srv->sock;
    is(stats_of($s)->{load_status}, 'missing', '-e: after a SIGTERM the next start is empty');
    is(send_recv($s, "set c 0 0 1\r\nc\r\n"), "STORED\r\n", '-e: set c');
    is(exit_status_text($srv->stop('INT')), 'exit 0', '-e: SIGINT exits 0');
    ok(!-e $m, '-e: SIGINT wrote no file');

    $srv = new_memcached("-e $m -A");
    $s = $srv->sock;
    is(send_recv($s, "set d 0 0 1\r\nd\r\n"), "STORED\r\n", '-e: set d');
    print $s "shutdown graceful\r\n";
    is(exit_status_text($srv->wait_exit(30)), 'exit 0', '-e: shutdown graceful exits 0');
    ok(-f $m, '-e: shutdown graceful wrote the file');
    $srv = new_memcached("-e $m");
    $s = $srv->sock;
    is(stats_of($s)->{load_items}, '1', '-e: restart after shutdown graceful, load_items 1');
    mem_get_is($s, 'd', 'd', '-e: d is back');
    ok(!-e $m, '-e: removed once loaded');
}

# ======================================================================
# -F with and without a file name; -F FILE with -e.
# ======================================================================

{
    my $denied = "CLIENT_ERROR flush_all not allowed\r\n";
    my $srv = new_memcached('-F');
    is(send_recv($srv->sock, "flush_all\r\n"), $denied, '-F alone: flush_all refused');
    print {$srv->sock} "stats settings\r\n";
    like(read_until_end($srv->sock), qr/^STAT dump_file NULL\r$/m,
         '-F alone: no dump file, STAT dump_file NULL (memcached shows unset strings so)');

    my $f = "$dir/flag.dump";
    $srv = new_memcached("-F $f");
    is(send_recv($srv->sock, "flush_all\r\n"), "OK\r\n", '-F FILE: flush_all allowed');
    is(stats_of($srv->sock, 'settings')->{dump_file}, $f, '-F FILE: dump_file set');

    $srv = new_memcached("-F -F $f");
    is(send_recv($srv->sock, "flush_all\r\n"), $denied, '-F -F FILE: flush_all refused');
    is(stats_of($srv->sock, 'settings')->{dump_file}, $f, '-F -F FILE: dump_file set');

    $srv = new_memcached("--dump-file=$f");
    is(send_recv($srv->sock, "flush_all\r\n"), "OK\r\n", '--dump-file=FILE: flush_all allowed');
    is(stats_of($srv->sock, 'settings')->{dump_file}, $f, '--dump-file=FILE: dump_file set');

    my $m = "$dir/never.mem";
    for my $args (['-F', $f, '-e', $m], ['-e', $m, '-F', $f], ["--dump-file=$f", '-e', $m]) {
        my ($status, $out) = run_binary(@$args);
        is($status, 64, "@$args: exits 64");
        like($out, qr/\A[^\n]*\Q$f\E[^\n]*\Q$m\E[^\n]*\n\z/, "@$args: one line naming both files");
    }
    ok(!-e $m, 'the refused starts wrote no -e file');
}

# ======================================================================
# SIGUSR2 without -F.
# ======================================================================

{
    my $srv = new_memcached();
    my $s = $srv->sock;
    is(send_recv($s, "set a 0 0 1\r\na\r\n"), "STORED\r\n", 'no -F: set a');
    kill 'USR2', $srv->pid for 1 .. 2;
    like(send_recv($s, "version\r\n"), qr/^VERSION /, 'no -F: SIGUSR2, the server still answers');
    mem_get_is($s, 'a', 'a', 'no -F: the cache is untouched');
    my $fresh = $srv->new_sock;
    like($fresh ? send_recv($fresh, "version\r\n") : 'no connection', qr/^VERSION /,
         'no -F: new connections are accepted');
    is($srv->is_running, 1, 'no -F: the server is running');
    my $st = stats_of($s);
    ok(!exists $st->{dump_in_progress} && !exists $st->{load_status},
       'no -F: stats has no dump fields (they come with a dump file)');
}

done_testing();
