#!/usr/bin/perl
# A replica that stops reading (SIGSTOP) while its master takes writes:
# once the stream the master holds for it passes -o repl_buffer_limit,
# the master drops it (replicas_dropped) instead of holding ever more;
# let run again, it resyncs by itself to the same data.
use strict;
use warnings;
use Test::More;
use lib 't/lib';
use MemcachedTest;
use Repl;

require_debug_binary();

my $master = new_memcached('-m 256 -o repl_buffer_limit=1048576,repl_timeout=60000');
my $m = $master->sock;
my $mport = $master->port;
my $replica = new_memcached("-m 256 -o replicaof=127.0.0.1:$mport");
my $r = $replica->sock;
ok(wait_synced($m, $r), 'replica caught up');
kill 'STOP', $replica->pid;
my $value = 'x' x 10_000;
# 40 MB: more than both socket buffers and the 1 MiB limit together.
printf $m "set k%d 0 0 10000 noreply\r\n%s\r\n", $_, $value for 1 .. 4000;
is(send_recv($m, "mn\r\n"), "MN\r\n", 'master: 4000 writes of 10 KB with the replica stopped');
my $st = wait_repl($m, sub { $_[0]{replicas_dropped} eq '1' });
is("$st->{replicas_dropped} $st->{connected_replicas}", '1 0',
   'the master dropped the replica whose buffer passed the limit');
kill 'CONT', $replica->pid;
ok(wait_synced($m, $r), 'the replica came back by itself and caught up');
$st = repl_stats($m);
is("$st->{sync_full} $st->{sync_partial_err}", '2 1',
   'a full sync: the backlog no longer covered what it missed');
is(digest($r), digest($m), 'same data');
like(digest($m), qr/^DIGEST 4000 /, 'all 4000 items');

# ---- one copy of the stream, shared: a stopped replica pins it ----
# While a replica is stopped, the stream it has yet to be sent stays in
# the master's buffer past repl_backlog_size (the other replica reads
# the same bytes and keeps up); let run again, it continues from there
# with no new sync, and the buffer shrinks back to the backlog.
my $shared = new_memcached('-m 256 -o repl_backlog_size=16384,repl_buffer_limit=134217728,repl_timeout=60000');
my $sh = $shared->sock;
my $shport = $shared->port;
my $ra = new_memcached("-m 256 -o replicaof=127.0.0.1:$shport");
my $rb = new_memcached("-m 256 -o replicaof=127.0.0.1:$shport");
my ($a_sock, $b_sock) = ($ra->sock, $rb->sock);
ok(wait_synced($sh, $a_sock) && wait_synced($sh, $b_sock), 'two replicas caught up');
kill 'STOP', $rb->pid;
printf $sh "set s%d 0 0 10000 noreply\r\n%s\r\n", $_, $value for 1 .. 4000;
is(send_recv($sh, "mn\r\n"), "MN\r\n", 'master: 40 MB written with one replica stopped');
ok(wait_synced($sh, $a_sock), 'the running replica kept up');
$st = repl_stats($sh);
cmp_ok($st->{repl_backlog_histlen}, '>', 16384,
       'the stream the stopped replica has not been sent is kept past the backlog size');
is($st->{replicas_dropped}, 0, 'nobody dropped');
kill 'CONT', $rb->pid;
ok(wait_synced($sh, $b_sock), 'the stopped replica caught up');
$st = wait_repl($sh, sub { $_[0]{repl_backlog_histlen} == 16384 });
is("$st->{repl_backlog_histlen} $st->{sync_full} $st->{sync_partial_ok} $st->{replicas_dropped}",
   '16384 2 0 0', 'no new sync, and the buffer is back to the backlog size');
is(digest($b_sock), digest($sh), 'the replica that was stopped has the same data');
is(digest($a_sock), digest($sh), 'so has the other one');

# ---- a backlog larger than the limit: only the excess counts ----
# The backlog keeps its bytes for every replica anyway, so a replica
# behind by less than the backlog holds nothing of its own and stays;
# one behind by more than the backlog plus the limit is dropped. (A
# replica resuming far back in a large backlog used to be dropped again
# at once, and again after each reconnection.)
my $big = new_memcached('-m 256 -o repl_backlog_size=33554432,repl_buffer_limit=1048576,repl_timeout=60000');
my $bg = $big->sock;
my $bgport = $big->port;
my $rc = new_memcached("-m 256 -o replicaof=127.0.0.1:$bgport");
my $c_sock = $rc->sock;
ok(wait_synced($bg, $c_sock), 'a replica of a master with a 32 MiB backlog caught up');
kill 'STOP', $rc->pid;
# 20 MB: more than the socket buffers and the 1 MiB limit, less than
# the backlog.
printf $bg "set b%d 0 0 10000 noreply\r\n%s\r\n", $_, $value for 1 .. 2000;
is(send_recv($bg, "mn\r\n"), "MN\r\n", 'master: 20 MB written with the replica stopped');
$st = repl_stats($bg);
is("$st->{replicas_dropped} $st->{connected_replicas}", '0 1',
   'not dropped: what it has not been sent is within the backlog');
kill 'CONT', $rc->pid;
ok(wait_synced($bg, $c_sock), 'let run again, it caught up');
$st = repl_stats($bg);
is("$st->{sync_full} $st->{sync_partial_ok} $st->{replicas_dropped}", '1 0 0',
   'on the same link: no new sync');
is(digest($c_sock), digest($bg), 'same data');
kill 'STOP', $rc->pid;
# 60 MB more: past the backlog and the limit together, whatever the
# socket buffers took.
printf $bg "set b%d 0 0 10000 noreply\r\n%s\r\n", $_, $value for 2001 .. 8000;
is(send_recv($bg, "mn\r\n"), "MN\r\n", 'master: 60 MB more with the replica stopped');
$st = wait_repl($bg, sub { $_[0]{replicas_dropped} eq '1' });
is("$st->{replicas_dropped} $st->{connected_replicas}", '1 0',
   'dropped once behind by more than the backlog and the limit');
kill 'CONT', $rc->pid;
ok(wait_synced($bg, $c_sock), 'it came back by itself and caught up');
is(digest($c_sock), digest($bg), 'same data');
like(digest($bg), qr/^DIGEST 8000 /, 'all 8000 items');

# ---- a replica with less memory than its master never evicts ----
my $small = new_memcached("-v -m 8 -o replicaof=127.0.0.1:$mport");
my $sm = $small->sock;
ok(wait_synced($m, $sm), 'a replica with -m 8 caught up as far as it can');
my $st_small = stats_of($sm);
is($st_small->{evictions}, 0, 'it evicted nothing of its own choice');
cmp_ok($st_small->{curr_items}, '<', 4000, 'what did not fit was left out');
my $left = 4000 - $st_small->{curr_items};
like($small->output, qr/: $left items left out \($left for lack of memory, 0 larger than -I\)/,
     'and logged, with the count');

done_testing();
