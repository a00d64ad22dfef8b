#!/usr/bin/perl
# -s <path>: listening on a unix socket, the file mode set by -a <octal>,
# and -s turning TCP off even when -p is given.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Socket::UNIX;
use POSIX ();
use lib 't/lib';
use MemcachedTest;

# The socket file mode must come from -a alone, not from the umask the
# server inherits: start every server below under a restrictive umask.
umask(0077);

# Commands over the unix socket.
{
    my $server = new_memcached('', unix => 1);
    my $sock = $server->sock;
    ok(-S $server->path, 'socket file exists and is a socket');
    is(send_recv($sock, "set foo 0 0 3\r\nbar\r\n"), "STORED\r\n",
       'set over the unix socket');
    mem_get_is($sock, 'foo', 'bar', 'get over the unix socket');
    my $second = $server->new_sock;
    mem_get_is($second, 'foo', 'bar', 'a second unix connection sees the item');
    is(sprintf('%04o', (stat $server->path)[2] & 07777), '0700',
       'default mask: socket mode 0700');
}

# -a sets the permission bits of the socket file exactly.
for my $mask ('0777', '0600') {
    my $server = new_memcached("-a $mask", unix => 1);
    is(sprintf('%04o', (stat $server->path)[2] & 07777), $mask,
       "-a $mask: socket mode $mask");
    is(send_recv($server->sock, "version\r\n") =~ /^VERSION \S+\r\n\z/ ? 1 : 0, 1,
       "-a $mask: server answers on the socket");
}

# -s disables TCP: nothing listens on the port given with -p.
{
    my $port = free_port();
    my $server = new_memcached("-p $port", unix => 1);
    is(send_recv($server->sock, "version\r\n") =~ /^VERSION \S+\r\n\z/ ? 1 : 0, 1,
       '-p with -s: the unix socket answers');
    my $tcp = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                    Proto => 'tcp', Timeout => 5);
    is(defined $tcp ? 'connected' : 'refused', 'refused',
       "-p $port with -s: TCP port is not listening");
}

# A stale socket file left by an earlier run (nobody listening on it) is
# replaced. The helper picks its own socket path, so this block starts the
# server itself.
{
    my $path = "/tmp/mctest.$$.stale.sock";
    unlink $path;
    my $stale = IO::Socket::UNIX->new(Local => $path, Type => SOCK_STREAM,
                                      Listen => 1) or die "$path: $!";
    close $stale;
    -S $path or die "no stale socket at $path";
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(STDOUT, '>', '/dev/null');
        open(STDERR, '>', '/dev/null');
        exec(server_binary(), '-s', $path, ($< == 0 ? ('-u', 'root') : ()))
            or POSIX::_exit(127);
    }
    my $sock;
    my $deadline = time + 10;
    until ($sock || time > $deadline) {
        $sock = IO::Socket::UNIX->new(Peer => $path, Type => SOCK_STREAM);
        select(undef, undef, undef, 0.05) unless $sock;
    }
    is($sock ? send_recv($sock, "version\r\n") =~ /^VERSION \S+\r\n\z/ ? 1 : 0 : 'no connect',
       1, 'a new server binds over the stale socket file');
    kill 'KILL', $pid;
    waitpid($pid, 0);
    unlink $path;
}

# A regular file at the path is not removed: the server refuses to start.
{
    my $path = "/tmp/mctest.$$.regular.sock";
    open(my $fh, '>', $path) or die "$path: $!";
    print $fh "keep me\n";
    close $fh;
    local $SIG{ALRM} = sub { die "server did not exit\n" };
    alarm 20;
    my ($status) = run_binary('-s', $path, ($< == 0 ? ('-u', 'root') : ()));
    alarm 0;
    is($status, 71, 'regular file at the socket path: exit status 71 (EX_OSERR)');
    ok(-f $path && !-S $path, 'regular file at the socket path is left in place');
    open($fh, '<', $path) or die "$path: $!";
    is(scalar <$fh>, "keep me\n", 'regular file at the socket path keeps its content');
    close $fh;
    unlink $path;
}

done_testing();
