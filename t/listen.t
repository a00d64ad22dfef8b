#!/usr/bin/perl
# -l <addr>[,<addr>...] picks the interfaces, -p 0 turns TCP off, and UDP
# is off unless -U asks for it; UDP binds the same -l addresses as TCP.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Socket::IP;
use IO::Select;
use POSIX ();
use Time::HiRes qw(usleep time);
use lib 't/lib';
use MemcachedTest;

# Inodes of the sockets a process holds open (from /proc/<pid>/fd).
sub socket_inodes {
    my $pid = shift;
    my %inodes;
    for my $fd (glob "/proc/$pid/fd/*") {
        my $target = readlink($fd) // next;
        $inodes{$1} = 1 if $target =~ /^socket:\[(\d+)\]$/;
    }
    return \%inodes;
}

# How many of the process's sockets are listening TCP sockets, and how many
# are bound UDP sockets (from /proc/net/{tcp,tcp6,udp,udp6}).
sub listeners_of {
    my $pid = shift;
    my $mine = socket_inodes($pid);
    my %count = (tcp => 0, udp => 0);
    for my $table (qw(tcp tcp6 udp udp6)) {
        open(my $fh, '<', "/proc/net/$table") or next;
        <$fh>;    # header
        while (my $line = <$fh>) {
            my @f = split ' ', $line;
            next unless $mine->{$f[9]};
            if ($table =~ /^tcp/) {
                $count{tcp}++ if $f[3] eq '0A';    # TCP_LISTEN
            } else {
                $count{udp}++;
            }
        }
    }
    return \%count;
}

sub answers_version {
    my $sock = shift;
    return 'no connection' unless $sock;
    my $line = send_recv($sock, "version\r\n");
    return defined $line && $line =~ /^VERSION \S+\r\n\z/ ? 1 : 0;
}

# Is ::1 usable on this machine? Bind a throwaway socket to find out.
my $probe = IO::Socket::IP->new(LocalHost => '::1', LocalPort => 0,
                                Proto => 'tcp', Listen => 1);
my $have_ipv6 = defined $probe;
undef $probe;
diag('no ::1 on this machine: IPv6 listen checks are skipped') unless $have_ipv6;

# -l 127.0.0.1: reachable there, and only there.
{
    my $server = new_memcached('-l 127.0.0.1');
    my $port = $server->port;
    is(answers_version($server->sock), 1, '-l 127.0.0.1: answers on 127.0.0.1');
    is(send_recv($server->sock, "set foo 0 0 3\r\nbar\r\n"), "STORED\r\n",
       '-l 127.0.0.1: set works');
    is(listeners_of($server->pid)->{tcp}, 1, '-l 127.0.0.1: exactly one TCP listener');
    SKIP: {
        skip 'no ::1', 1 unless $have_ipv6;
        my $v6 = IO::Socket::IP->new(PeerHost => '::1', PeerPort => $port,
                                     Proto => 'tcp', Timeout => 5);
        is(defined $v6 ? 'connected' : 'refused', 'refused',
           '-l 127.0.0.1: nothing listens on ::1');
    }
}

# -l 127.0.0.1,::1: one listener per address, both answer.
SKIP: {
    skip 'no ::1 on this machine', 5 unless $have_ipv6;
    my $server = new_memcached('-l 127.0.0.1,::1');
    my $port = $server->port;
    is(answers_version($server->sock), 1, '-l 127.0.0.1,::1: answers on 127.0.0.1');
    my $v6 = IO::Socket::IP->new(PeerHost => '::1', PeerPort => $port,
                                 Proto => 'tcp', Timeout => 5);
    is(answers_version($v6), 1, '-l 127.0.0.1,::1: answers on ::1');
    is(send_recv($server->sock, "set foo 0 0 3\r\nbar\r\n"), "STORED\r\n",
       '-l 127.0.0.1,::1: set over IPv4');
    mem_get_is($v6, 'foo', 'bar', '-l 127.0.0.1,::1: same cache seen over IPv6');
    is(listeners_of($server->pid)->{tcp}, 2, '-l 127.0.0.1,::1: two TCP listeners');
}

# -p 0 -U 0 without -s: memcached does not refuse to start; it keeps running
# with no listening socket at all, and still stops cleanly on SIGTERM.
{
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(STDOUT, '>', '/dev/null');
        open(STDERR, '>', '/dev/null');
        exec(server_binary(), '-p', '0', '-U', '0',
             ($< == 0 ? ('-u', 'root') : ())) or POSIX::_exit(127);
    }
    # Give it time to fail if it is going to; nothing to poll for here.
    my $deadline = time + 2;
    my $gone = 0;
    while (time < $deadline) {
        if (waitpid($pid, POSIX::WNOHANG()) == $pid) { $gone = 1; last }
        usleep(50_000);
    }
    is($gone ? 'exited with status ' . ($? >> 8) : 'running', 'running',
       '-p 0 -U 0: server keeps running');
    SKIP: {
        skip 'server exited', 3 if $gone;
        my $l = listeners_of($pid);
        is($l->{tcp}, 0, '-p 0 -U 0: no TCP listener');
        is($l->{udp}, 0, '-p 0 -U 0: no UDP socket');
        kill 'TERM', $pid;
        my $status;
        $deadline = time + 10;
        while (time < $deadline) {
            if (waitpid($pid, POSIX::WNOHANG()) == $pid) { $status = $?; last }
            usleep(20_000);
        }
        unless (defined $status) { kill 'KILL', $pid; waitpid($pid, 0); }
        is($status, 0, '-p 0 -U 0: SIGTERM exits with status 0');
    }
}

# UDP is off by default.
{
    my $server = new_memcached('');
    is(answers_version($server->sock), 1, 'default: TCP answers');
    is(listeners_of($server->pid)->{udp}, 0, 'default: no UDP socket (-U is off)');
}

# A `version` request over UDP from a socket of the given family: true if
# the reply comes back with the request id.
sub udp_version {
    my ($peer, $port) = @_;
    my $u = IO::Socket::IP->new(PeerHost => $peer, PeerPort => $port, Proto => 'udp')
        or return "no socket: $!";
    $u->send(pack('nnnn', 0x4242, 0, 1, 0) . "version\r\n");
    return 'no reply' unless IO::Select->new($u)->can_read(10);
    my $buf;
    $u->recv($buf, 65536);
    return $buf =~ /\A\x42\x42\0\0\0\x01\0\0VERSION \S+\r\n\z/ ? 1 : 'bad reply';
}

# -U with -l: one UDP socket per -l address.
{
    my $server = new_memcached('-l 127.0.0.1', udp => 1);
    is(listeners_of($server->pid)->{udp}, 1, '-U -l 127.0.0.1: one UDP socket');
    is(udp_version('127.0.0.1', $server->udpport), 1, '-U -l 127.0.0.1: answers over UDP');
}

# -U without -l: the IPv4 and IPv6 wildcards, like TCP.
{
    my $server = new_memcached('', udp => 1);
    is(listeners_of($server->pid)->{udp}, $have_ipv6 ? 2 : 1,
       '-U without -l: UDP on the IPv4 and IPv6 wildcards');
    is(udp_version('127.0.0.1', $server->udpport), 1, '-U without -l: answers over IPv4');
    SKIP: {
        skip 'no ::1', 1 unless $have_ipv6;
        is(udp_version('::1', $server->udpport), 1, '-U without -l: answers over IPv6');
    }
}

# A port in a -l entry wins over -p and -U, for both (memcached's rule).
{
    my ($tport, $uport, $lport) = (free_port(), free_port('udp'), free_port());
    my $server = new_memcached(['-l', "127.0.0.1:$lport", '-U', $uport], no_port => 1,
                               port => $lport);
    is(answers_version($server->sock), 1, "-l 127.0.0.1:PORT: TCP on that port");
    is(udp_version('127.0.0.1', $lport), 1, "-l 127.0.0.1:PORT -U other: UDP on the -l port too");
}

# -s turns UDP off as it does TCP; stats settings still shows the -U port.
{
    my $server = new_memcached('', unix => 1, udp => 1);
    is(answers_version($server->sock), 1, '-s with -U: the unix socket answers');
    is(listeners_of($server->pid)->{udp}, 0, '-s with -U: no UDP socket');
    print {$server->sock} "stats settings\r\n";
    my ($udpport) = read_until_end($server->sock) =~ /^STAT udpport (\d+)\r$/m;
    is($udpport, $server->udpport, '-s with -U: stats settings shows udpport as given');
}

# -p 0 with -U: UDP only.
{
    my $uport = free_port('udp');
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(STDOUT, '>', '/dev/null');
        open(STDERR, '>', '/dev/null');
        exec(server_binary(), '-p', '0', '-U', $uport, '-l', '127.0.0.1',
             ($< == 0 ? ('-u', 'root') : ())) or POSIX::_exit(127);
    }
    my $ok = 'no reply';
    my $deadline = time + 10;
    while (time < $deadline) {
        $ok = udp_version('127.0.0.1', $uport);
        last if $ok eq '1';
        usleep(50_000);
    }
    is($ok, 1, '-p 0 -U PORT: answers over UDP');
    my $l = listeners_of($pid);
    is($l->{tcp}, 0, '-p 0 -U PORT: no TCP listener');
    is($l->{udp}, 1, '-p 0 -U PORT: one UDP socket');
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

done_testing();
