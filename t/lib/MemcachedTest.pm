package MemcachedTest;

# Test helper: starts the server binary on a free port (or a unix socket),
# waits until it accepts connections, hands out sockets, and stops it.
#
#   use lib 't/lib'; use MemcachedTest;
#   my $server = new_memcached('-m 64');      # extra command-line args
#   my $sock = $server->sock;                  # first connection
#   print $sock "set foo 0 0 3\r\nbar\r\n";
#   is(scalar <$sock>, "STORED\r\n", "stored foo");
#
# MEMCACHED_BIN picks the binary (default ./memcached-debug); setting it to
# /usr/bin/memcached runs a script against memcached itself, which is how
# the expected bytes in t/ were checked. Scripts that need our debug
# commands call `require_debug_binary` and bail out loudly otherwise.

use strict;
use warnings;
use IO::Socket::INET;
use IO::Socket::UNIX;
use Socket qw(SOL_SOCKET SO_RCVTIMEO SOCK_STREAM);
use POSIX ":sys_wait_h";
use Time::HiRes qw(usleep time);
use Exporter 'import';

our @EXPORT = qw(new_memcached server_binary is_ours free_port
                 mem_get_is send_recv read_reply read_until_end run_binary
                 run_refused
                 require_debug_binary meta mg_cas);

my @servers;
# Servers started so far: each one's output file has a name of its own.
my $started = 0;

sub server_binary {
    return $ENV{MEMCACHED_BIN} // './memcached-debug';
}

# True when the binary under test is ours, not memcached (Debian's, or one
# built in a memcached source tree): the first line of our `-h` names the
# Rust server. Both answer `version` alike, so the version cannot tell.
my %ours;
sub is_ours {
    my $bin = server_binary();
    unless (exists $ours{$bin}) {
        my $first = '';
        if (open(my $fh, '-|', $bin, '-h')) {
            $first = <$fh> // '';
            close $fh;
        }
        $ours{$bin} = $first =~ /\(Rust server/ ? 1 : 0;
    }
    return $ours{$bin};
}

# For scripts that use debug-only commands (`debugtime <seconds>` shifts the
# server clock forward and answers OK): they cannot run against another
# server, so running them against one says so in the plan instead of failing
# for the wrong reason. Under `make test` the binary is always ours.
sub require_debug_binary {
    return if is_ours();
    Test::More::plan(skip_all => 'needs memcached-debug (debugtime)');
}

# Finds a TCP port nobody listens on right now (bind to 0, read, close).
sub free_port {
    my $proto = shift // 'tcp';
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => $proto, ReuseAddr => 1)
        or die "cannot find a free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# Runs the binary to completion with the given argument list and returns
# (exit status, stdout+stderr). For flag tests that expect an exit.
sub run_binary {
    my @args = @_;
    my $bin = server_binary();
    my $pid = open(my $fh, '-|');
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(STDERR, '>&', \*STDOUT);
        exec($bin, @args) or POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}

# Runs the server on a free port with the given arguments, expecting it to
# refuse to start; `-u root` is added when running as root without -u.
# Returns (exit status, stdout+stderr). The status is 'still running' if the
# server was still up after 15 seconds (it is then killed, so a server that
# wrongly starts fails the test instead of hanging it).
sub run_refused {
    my @args = @_;
    push @args, '-u', 'root' if $< == 0 && !grep { $_ eq '-u' } @args;
    my $out = "/tmp/mctest.$$.refused.out";
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', $out);
        open(STDERR, '>&', \*STDOUT);
        exec(server_binary(), '-p', free_port(), '-l', '127.0.0.1', @args)
            or POSIX::_exit(127);
    }
    my $deadline = time + 15;
    my $status = 'still running';
    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) {
            $status = $? & 127 ? 'killed by signal ' . ($? & 127) : $? >> 8;
            last;
        }
        usleep(10_000);
    }
    if ($status eq 'still running') {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    open(my $fh, '<', $out) or return ($status, '');
    local $/;
    my $text = <$fh> // '';
    close $fh;
    unlink $out;
    return ($status, $text);
}

# Starts a server with extra arguments (a string split on spaces, or an
# array ref). Options: udp => 1 also opens a UDP port; unix => 1 listens on a
# unix socket instead of TCP; no_port => 1 passes no -p (the caller's
# arguments pick the port, and port => N tells the helper which it is);
# stdout => FILE sends the server's stdout there instead of mixing it with
# stderr in output(); env => { NAME => value } sets environment variables
# for the server only.
sub new_memcached {
    my ($args, %opt) = @_;
    my @args = ref $args ? @$args : split(' ', $args // '');
    my $bin = server_binary();
    die "no server binary at $bin (run make)" unless -x $bin;
    for my $attempt (1 .. 5) {
        my ($port, $udpport, $path) = ($opt{port} // 0, 0, undef);
        my @full = @args;
        if ($opt{unix}) {
            $path = "/tmp/mctest.$$.$attempt." . int(rand(1e6)) . ".sock";
            push @full, '-s', $path;
        } elsif (!$opt{no_port}) {
            $port = free_port();
            push @full, '-p', $port;
        }
        if ($opt{udp}) {
            $udpport = free_port('udp');
            push @full, '-U', $udpport;
        }
        push @full, '-u', 'root' if $< == 0 && !grep { $_ eq '-u' } @full;
        $started++;
        my $errfile = "/tmp/mctest.$$.$started.err";
        my $pid = fork();
        die "fork: $!" unless defined $pid;
        if ($pid == 0) {
            $ENV{$_} = $opt{env}{$_} for keys %{ $opt{env} // {} };
            open(STDERR, '>', $errfile);
            if ($opt{stdout}) {
                open(STDOUT, '>', $opt{stdout});
            } else {
                open(STDOUT, '>&', \*STDERR);
            }
            exec($bin, @full) or POSIX::_exit(127);
        }
        my $self = bless { pid => $pid, port => $port, udpport => $udpport,
                           path => $path, args => \@full, errfile => $errfile },
                   __PACKAGE__;
        my $deadline = time + 10;
        while (time < $deadline) {
            my $s = $self->new_sock;
            if ($s) {
                $self->{sock} = $s;
                push @servers, $self;
                return $self;
            }
            last if waitpid($pid, WNOHANG) == $pid;
            usleep(20_000);
        }
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    die "could not start $bin @args";
}

sub port    { $_[0]{port} }
sub udpport { $_[0]{udpport} }
sub pid     { $_[0]{pid} }
sub path    { $_[0]{path} }
sub sock    { $_[0]{sock} }

# What the server printed on stdout/stderr so far (for -v tests).
sub output {
    my $self = shift;
    open(my $fh, '<', $self->{errfile}) or return '';
    local $/;
    my $out = <$fh>;
    return $out // '';
}

# Opens one more connection to the server (undef if it cannot). Reads on
# it give up after 30 seconds, so a server that never answers fails the
# test instead of hanging it.
sub new_sock {
    my $self = shift;
    my $s;
    if ($self->{path}) {
        $s = IO::Socket::UNIX->new(Peer => $self->{path}, Type => SOCK_STREAM);
    } else {
        $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$self->{port}",
                                   Proto => 'tcp', Timeout => 5);
    }
    setsockopt($s, SOL_SOCKET, SO_RCVTIMEO, pack('l!l!', 30, 0)) if $s;
    return $s;
}

# Opens a UDP socket connected to the server's UDP port.
sub new_udp_sock {
    my $self = shift;
    return IO::Socket::INET->new(PeerAddr => "127.0.0.1:$self->{udpport}",
                                 Proto => 'udp');
}

# True while the server process has not exited.
sub is_running {
    my $self = shift;
    return 0 if $self->{exited};
    my $r = waitpid($self->{pid}, WNOHANG);
    if ($r == $self->{pid}) {
        $self->{exited} = 1;
        $self->{status} = $?;
        return 0;
    }
    return 1;
}

# Waits up to `timeout` seconds for the process to exit; returns its wait
# status or undef if it is still running.
sub wait_exit {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    while (time < $deadline) {
        return $self->{status} unless $self->is_running;
        usleep(10_000);
    }
    return undef;
}

# Stops the server with a signal (TERM by default) and reaps it.
sub stop {
    my ($self, $sig) = @_;
    return $self->{status} unless $self->is_running;
    kill($sig // 'TERM', $self->{pid});
    my $st = $self->wait_exit(10);
    unless (defined $st) {
        kill 'KILL', $self->{pid};
        waitpid($self->{pid}, 0);
        $self->{exited} = 1;
        $st = $self->{status} = $?;
    }
    return $st;
}

sub DESTROY {
    my $self = shift;
    local $?;
    $self->stop('KILL') if $self->{pid} && !$self->{exited};
    unlink $self->{errfile} if $self->{errfile};
    unlink $self->{path} if $self->{path};
}

END { local $?; $_->stop('KILL') for @servers; }

# ---- wire helpers ----

# Sends a request and returns the first reply line.
sub send_recv {
    my ($sock, $req) = @_;
    print $sock $req;
    return scalar <$sock>;
}

# Reads lines until one equals "END\r\n" (or one of the given terminators)
# and returns them concatenated.
sub read_until_end {
    my ($sock, $term) = @_;
    $term //= "END\r\n";
    my $out = '';
    while (defined(my $line = <$sock>)) {
        $out .= $line;
        last if $line eq $term;
    }
    return $out;
}

# Reads exactly `len` bytes (or until EOF).
sub read_reply {
    my ($sock, $len) = @_;
    my $buf = '';
    while (length($buf) < $len) {
        my $n = read($sock, $buf, $len - length($buf), length($buf));
        last unless $n;
    }
    return $buf;
}

# Sends one meta request and reads one meta reply: the status line and,
# for a VA line, the data block after it.
sub meta {
    my ($sock, $req) = @_;
    print $sock $req;
    my $line = <$sock> // '';
    if ($line =~ /^VA (\d+)/) {
        $line .= read_reply($sock, $1 + 2);
    }
    return $line;
}

# The CAS unique of `key`, read with `mg <key> c` (undef on a miss).
sub mg_cas {
    my ($sock, $key) = @_;
    my $reply = meta($sock, "mg $key c\r\n");
    return $reply =~ /^HD c(\d+)(?: |\r\n)/ ? $1 : undef;
}

# get <key> and compare the whole reply with a value (undef: a miss).
sub mem_get_is {
    my ($sock, $key, $val, $msg, $flags) = @_;
    print $sock "get $key\r\n";
    my $expect = defined $val
        ? "VALUE $key " . ($flags // 0) . " " . length($val) . "\r\n$val\r\nEND\r\n"
        : "END\r\n";
    my $got = read_until_end($sock);
    Test::More::is($got, $expect, $msg // "get $key");
}

# ---- stats helpers ----

push @EXPORT, qw(stats_of wait_stat);

# Sends `stats` (or `stats <sub>`) and returns the reply as a hash of
# name => value ({} if the connection failed).
sub stats_of {
    my ($sock, $sub) = @_;
    print $sock defined $sub ? "stats $sub\r\n" : "stats\r\n";
    my %st;
    for my $line (split /\r\n/, read_until_end($sock)) {
        $st{$1} = $2 if $line =~ /^STAT (\S+) (.*)\z/;
    }
    return \%st;
}

# Polls `stats` until the stat `name` equals `want` (a string), or until
# `want->($value, $stats)` is true when `want` is a code ref; gives up after
# `timeout` seconds (default 30: a deadline that only matters if the server
# is broken). Returns the stats hash of the last reply, the one that met the
# condition if any, so the caller asserts on a consistent snapshot.
sub wait_stat {
    my ($sock, $name, $want, $timeout) = @_;
    my $deadline = time + ($timeout // 30);
    while (1) {
        my $st = stats_of($sock);
        my $v = $st->{$name};
        my $ok = ref $want eq 'CODE' ? $want->($v, $st)
                                     : defined $v && $v eq $want;
        return $st if $ok || time >= $deadline || !%$st;
        usleep(20_000);
    }
}

1;
