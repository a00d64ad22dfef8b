#!/usr/bin/perl
# Type=notify: once the dump is loaded and every socket listens, the server
# sends "READY=1\nSTATUS=..." in one datagram to the unix socket named by
# NOTIFY_SOCKET (systemd's protocol); a name starting with '@' is in the
# abstract namespace.
use strict;
use warnings;
use Test::More;
use IO::Select;
use IO::Socket::UNIX;
use Socket qw(SOCK_DGRAM);
use File::Path qw(make_path remove_tree);
use lib 't/lib';
use MemcachedTest;

plan(skip_all => 'the systemd notification is ours: Debian runs memcached as Type=simple')
    unless is_ours();

my $top = "/tmp/mctest.$$.sd-notify";
remove_tree($top);
make_path($top);
END { local $?; remove_tree($top) if $top && -d $top; }

# Binds a datagram socket at `name` (a path, or "\0name" for the abstract
# namespace).
sub notify_socket {
    my $name = shift;
    my $s = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $name)
        or die "cannot bind $name: $!";
    return $s;
}

# The next datagram on `sock`, or 'nothing' after `secs` seconds.
sub next_datagram {
    my ($sock, $secs) = @_;
    return 'nothing' unless IO::Select->new($sock)->can_read($secs);
    defined(recv($sock, my $buf, 4096, 0)) or return "recv: $!";
    return $buf;
}

# A path socket, no dump file.
{
    my $path = "$top/notify.sock";
    my $ns = notify_socket($path);
    my $srv = new_memcached('', env => { NOTIFY_SOCKET => $path });
    my $port = $srv->port;
    is(next_datagram($ns, 10), "READY=1\nSTATUS=listening on TCP port $port",
       'NOTIFY_SOCKET path: READY=1 and the port in STATUS');
    is(send_recv($srv->sock, "version\r\n") =~ /^VERSION / ? 1 : 0, 1, 'and the server serves');
    is(next_datagram($ns, 0.2), 'nothing', 'READY=1 is sent once');
    $srv->stop;
}

# An abstract socket, a dump file with two items, a UDP port.
{
    my $name = "mctest.$$.notify";
    my $ns = notify_socket("\0$name");
    my $file = "$top/cache.dump";
    my $srv = new_memcached(['-F', $file]);
    send_recv($srv->sock, "set a 0 0 1\r\na\r\n");
    send_recv($srv->sock, "set b 0 0 1\r\nb\r\n");
    $srv->stop('TERM');
    $srv = new_memcached(['-F', $file], udp => 1, env => { NOTIFY_SOCKET => "\@$name" });
    my ($port, $udp) = ($srv->port, $srv->udpport);
    is(next_datagram($ns, 10),
       "READY=1\nSTATUS=2 items loaded; listening on TCP port $port, UDP port $udp",
       'NOTIFY_SOCKET @abstract: READY=1 after the load, items and ports in STATUS');
    $srv->stop;
}

# A socket that is not there: the server serves anyway and says why it
# could not notify.
{
    my $path = "$top/missing.sock";
    my $srv = new_memcached('', env => { NOTIFY_SOCKET => $path });
    is(send_recv($srv->sock, "version\r\n") =~ /^VERSION / ? 1 : 0, 1,
       'NOTIFY_SOCKET without a socket: the server serves');
    is($srv->output, "cannot tell systemd the server is ready: NOTIFY_SOCKET=$path: No such file or directory\n",
       'NOTIFY_SOCKET without a socket: one warning naming it');
    $srv->stop;
}

done_testing();
