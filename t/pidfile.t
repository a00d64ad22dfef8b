#!/usr/bin/perl
# -P without -d: memcached writes the pid file whether or not it becomes a
# daemon (Debian's unit reads it through PIDFile=), and so do we. We also
# remove it at every exit; memcached 1.6.18 removes it only with -d, so
# against memcached those checks are skipped. The daemon case is in
# t/daemon.t.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(usleep time);
use lib 't/lib';
use MemcachedTest;
use DumpFile;

my $pidfile = "/tmp/mctest.$$.pidfile.pid";
unlink $pidfile;
END { local $?; unlink $pidfile if $pidfile; }

for my $sig ('TERM', 'INT') {
    my $srv = new_memcached(['-P', $pidfile]);
    # The file is written before the loop serves, so it is there as soon
    # as the server answers.
    is(send_recv($srv->sock, "version\r\n") =~ /^VERSION / ? 1 : 0, 1, "SIG$sig case: server up");
    is(slurp($pidfile), $srv->pid . "\n", "-P without -d: the pid file holds the server's pid");
    ok(!-e "$pidfile.tmp", '-P without -d: no pid file .tmp left');
    kill $sig, $srv->pid;
    my $st = $srv->wait_exit(10);
    is(defined $st ? $st >> 8 : 'still running', 0, "SIG$sig: exit 0");
    SKIP: {
        skip 'memcached 1.6.18 removes the pid file only with -d', 1 unless is_ours();
        ok(!-e $pidfile, "SIG$sig: the pid file is removed at exit");
    }
    unlink $pidfile;
}

# The shutdown command removes it too.
{
    my $srv = new_memcached(['-A', '-P', $pidfile]);
    ok(-f $pidfile, 'shutdown: pid file there');
    print {$srv->sock} "shutdown\r\n";
    my $st = $srv->wait_exit(10);
    is(defined $st ? $st >> 8 : 'still running', 0, 'shutdown: exit 0');
    SKIP: {
        skip 'memcached 1.6.18 removes the pid file only with -d', 1 unless is_ours();
        ok(!-e $pidfile, 'shutdown: the pid file is removed at exit');
    }
}

done_testing();
