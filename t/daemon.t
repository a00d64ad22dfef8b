#!/usr/bin/perl
# -d -P <pidfile>: the command returns at once with status 0, a detached
# server keeps running under the pid written to the pid file, and SIGTERM to
# that pid stops it and removes the pid file. The daemon is not our child,
# so this script launches it by hand instead of with new_memcached.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(usleep time);
use lib 't/lib';
use MemcachedTest;

my $port = free_port();
my $pidfile = "/tmp/mctest.$$.daemon.pid";
my $logfile = "/tmp/mctest.$$.daemon.log";
unlink $pidfile;
my $daemon_pid;

# Never leave a daemon behind, whatever fails below (checking that the pid
# still names our server, with our pid file on its command line).
END {
    if ($daemon_pid && alive($daemon_pid)
        && open(my $fh, '<', "/proc/$daemon_pid/cmdline")) {
        my $cmdline = <$fh> // '';
        kill 'KILL', $daemon_pid if index($cmdline, $pidfile) >= 0;
    }
    unlink $pidfile, $logfile;
}

# True while the pid names a live process. The daemon is reparented away
# from us, so once it exits it may linger as a zombie until its new parent
# reaps it: that counts as gone.
sub alive {
    my $pid = shift;
    open(my $fh, '<', "/proc/$pid/stat") or return 0;
    my $stat = <$fh> // '';
    return $stat =~ /^\d+ \(.*\) ([A-Za-z])/ && $1 ne 'Z' ? 1 : 0;
}

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

my $launcher = fork();
die "fork: $!" unless defined $launcher;
if ($launcher == 0) {
    open(STDIN, '<', '/dev/null');
    open(STDOUT, '>', $logfile);
    open(STDERR, '>&', \*STDOUT);
    exec(server_binary(), '-d', '-P', $pidfile, '-p', $port, '-l', '127.0.0.1',
         ($< == 0 ? ('-u', 'root') : ())) or POSIX::_exit(127);
}
my $status = wait_for(sub { waitpid($launcher, POSIX::WNOHANG()) == $launcher ? "exit $?" : '' }, 10);
is($status, 'exit 0', '-d: the launching process exits with status 0');

# The pid file may appear a moment after the launcher has returned.
my $content = wait_for(sub {
    open(my $fh, '<', $pidfile) or return '';
    local $/;
    my $c = <$fh> // '';
    return $c =~ /\n\z/ ? $c : '';
}, 10);
like($content, qr/^[1-9]\d*\n\z/, '-P: pid file holds a decimal pid and a newline');
($daemon_pid) = $content =~ /^(\d+)/;
$daemon_pid //= 0;
isnt($daemon_pid, $launcher, 'daemon pid is not the launcher pid');
is(alive($daemon_pid), 1, 'pid from the pid file is a live process');

SKIP: {
    skip 'no daemon pid', 8 unless $daemon_pid;

    open(my $fh, '<', "/proc/$daemon_pid/stat");
    my $stat = <$fh> // '';
    my ($session) = $stat =~ /^\d+ \(.*\) \S+ \d+ \d+ (\d+)/;
    is($session // 'unknown', $daemon_pid, 'daemon leads its own session (setsid)');
    is(join(',', map { readlink("/proc/$daemon_pid/fd/$_") // 'closed' } 0 .. 2),
       '/dev/null,/dev/null,/dev/null', 'daemon stdin/stdout/stderr are /dev/null');

    my $sock = wait_for(sub {
        IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Proto => 'tcp', Timeout => 5)
    }, 10);
    is($sock ? send_recv($sock, "set foo 0 0 3\r\nbar\r\n") : 'no connection', "STORED\r\n",
       'daemon answers on its port');
    if ($sock) {
        mem_get_is($sock, 'foo', 'bar', 'daemon serves what it stored');
        close $sock;
    } else {
        fail('daemon serves what it stored');
    }

    kill 'TERM', $daemon_pid;
    is(wait_for(sub { !alive($daemon_pid) }, 10), 1, 'SIGTERM to the pid from the file stops the daemon');
    is(wait_for(sub { !-e $pidfile }, 5), 1, 'pid file is removed on exit');
    my $after = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Proto => 'tcp', Timeout => 5);
    is(defined $after ? 'connected' : 'refused', 'refused', 'port is closed after the daemon exits');
    open(my $log, '<', $logfile);
    local $/;
    is(<$log> // '', '', '-d: launcher printed nothing');
}

done_testing();
