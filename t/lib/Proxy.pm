package Proxy;
# A TCP proxy for fault tests: a forked process listening on 127.0.0.1 (an
# ephemeral port) that forwards every connection to a target port on
# 127.0.0.1, and that the test steers over a control socket:
#
#   my $p = Proxy->new($master->port);
#   my $port = $p->port;                  # point a replica here
#   $p->cut;                              # close every connection now
#   $p->hold;                             # accept new ones, forward nothing yet
#   $p->refuse;                           # accept new ones and close them at once
#   $p->resume;                           # forward again (held ones too)
#   $p->cut_after($n);                    # cut once $n more bytes came from the
#                                         # target, then hold
#   my $st = $p->status;                  # {accepted, live, held, refused,
#                                         #  cuts, down_bytes, up_bytes}
#   $p->wait_status(sub { $_[0]{live} == 1 });   # bounded poll (30 s)
#   $p->stop;                             # by pid, at the end
#
# "down" is target -> client (a master's stream to its replica), "up" is
# client -> target. Every loop of the proxy ends by itself: the process
# exits when the control socket closes (the test ended), on `quit`, or
# after ten minutes whatever happens.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Socket qw(AF_UNIX SOCK_STREAM PF_UNSPEC SOL_SOCKET SO_RCVTIMEO);
use POSIX ();
use Errno qw(EAGAIN EWOULDBLOCK EINTR);
use Time::HiRes qw(usleep time);

# The proxy's own lifetime bound, and how much it buffers for one side
# before it stops reading the other.
my $MAX_LIFE = 600;
my $BUF_MAX  = 1 << 20;

sub new {
    my ($class, $target_port) = @_;
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                       Proto => 'tcp', Listen => 64, ReuseAddr => 1)
        or die "proxy: cannot listen: $!";
    socketpair(my $ctl, my $peer, AF_UNIX, SOCK_STREAM, PF_UNSPEC)
        or die "proxy: socketpair: $!";
    my $pid = fork();
    die "proxy: fork: $!" unless defined $pid;
    if ($pid == 0) {
        close $ctl;
        my $code = eval { run($listen, $peer, $target_port); 0 } // 1;
        POSIX::_exit($code);
    }
    close $peer;
    my $port = $listen->sockport;
    close $listen;
    $ctl->autoflush(1);
    setsockopt($ctl, SOL_SOCKET, SO_RCVTIMEO, pack('l!l!', 30, 0));
    return bless { pid => $pid, port => $port, ctl => $ctl }, $class;
}

sub port { $_[0]{port} }
sub pid  { $_[0]{pid} }

# Sends one control command and returns its one-line answer (without the
# line end); undef if the proxy does not answer within 30 s.
sub command {
    my ($self, $cmd) = @_;
    my $ctl = $self->{ctl};
    print $ctl "$cmd\n";
    my $line = <$ctl>;
    return undef unless defined $line;
    chomp $line;
    return $line;
}

# Each returns the proxy's answer: "OK" (cut: "OK <connections cut>").
sub cut       { $_[0]->command('cut') }
sub hold      { $_[0]->command('hold') }
sub refuse    { $_[0]->command('refuse') }
sub resume    { $_[0]->command('resume') }
sub cut_after { $_[0]->command("cutafter $_[1]") }

# The proxy's counters as a hash: accepted (connections accepted in all),
# live (pairs forwarding now), held (accepted, waiting for resume),
# refused, cuts (connections cut by cut or cut_after), down_bytes and
# up_bytes (forwarded in all), mode (pass, hold or refuse).
sub status {
    my $self = shift;
    my $line = $self->command('status') // return {};
    return { map { split /=/, $_, 2 } split ' ', $line =~ s/^STATUS //r };
}

# Polls status until `$cond->($status)` holds, or `$timeout` seconds
# (default 30) pass. Returns the last status.
sub wait_status {
    my ($self, $cond, $timeout) = @_;
    my $deadline = time + ($timeout // 30);
    while (1) {
        my $st = $self->status;
        return $st if $cond->($st) || time >= $deadline || !%$st;
        usleep(10_000);
    }
}

# Stops the proxy process by its pid and reaps it.
sub stop {
    my $self = shift;
    return unless $self->{pid};
    my $pid = delete $self->{pid};
    close $self->{ctl} if $self->{ctl};
    kill 'TERM', $pid;
    my $deadline = time + 10;
    while (time < $deadline) {
        return if waitpid($pid, POSIX::WNOHANG()) == $pid;
        usleep(10_000);
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

sub DESTROY {
    my $self = shift;
    local $?;
    $self->stop;
}

# ---- the proxy process ----

# The proxy's loop. A pair is one forwarded connection: the client's
# socket (c), the target's (t, undef while held), and what waits to be
# written to each (to_c, to_t).
sub run {
    my ($listen, $ctl, $target_port) = @_;
    $SIG{PIPE} = 'IGNORE';
    $SIG{TERM} = sub { POSIX::_exit(0) };
    $listen->blocking(0);
    my $mode = 'pass';
    my $cut_after;                   # bytes still to go down before a cut
    my @pairs;
    my %n = (accepted => 0, refused => 0, cuts => 0, down_bytes => 0, up_bytes => 0);
    my $ctlbuf = '';
    my $end = time + $MAX_LIFE;

    my $close_pair = sub {
        my $p = shift;
        for my $s ($p->{c}, $p->{t}) {
            close $s if $s;
        }
        $p->{dead} = 1;
    };
    my $cut_all = sub {
        my $k = 0;
        for my $p (@pairs) {
            next if $p->{dead};
            $close_pair->($p);
            $k++;
        }
        @pairs = ();
        $n{cuts} += $k;
        return $k;
    };
    my $connect = sub {
        my $p = shift;
        my $t = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$target_port",
                                      Proto => 'tcp', Timeout => 5);
        if (!$t) {
            $close_pair->($p);
            return;
        }
        $t->blocking(0);
        $p->{t} = $t;
    };

    while (time < $end) {
        my $rd = IO::Select->new($listen, $ctl);
        my $wr = IO::Select->new;
        for my $p (@pairs) {
            next if $p->{dead};
            # Read a side only while the other side's buffer has room;
            # held connections are read too, so a client that gives up
            # is noticed, but nothing goes on until resume.
            $rd->add($p->{c}) if length $p->{to_t} < $BUF_MAX;
            next unless $p->{t};
            $rd->add($p->{t}) if length $p->{to_c} < $BUF_MAX;
            $wr->add($p->{t}) if length $p->{to_t};
            $wr->add($p->{c}) if length $p->{to_c};
        }
        my ($r, $w) = IO::Select->select($rd, $wr, undef, 0.1);
        for my $s (@{ $r // [] }) {
            if ($s == $ctl) {
                my $got = sysread($ctl, $ctlbuf, 4096, length $ctlbuf);
                return if !$got;            # the test is gone
                while ($ctlbuf =~ s/^([^\n]*)\n//) {
                    my @t = split ' ', $1;
                    my $cmd = $t[0] // '';
                    my $ans = 'OK';
                    if ($cmd eq 'cut') {
                        $ans = 'OK ' . $cut_all->();
                    } elsif ($cmd eq 'hold' || $cmd eq 'refuse') {
                        $mode = $cmd;
                    } elsif ($cmd eq 'resume') {
                        $mode = 'pass';
                        $connect->($_) for grep { !$_->{dead} && !$_->{t} } @pairs;
                    } elsif ($cmd eq 'cutafter' && defined $t[1] && $t[1] =~ /^\d+\z/) {
                        $cut_after = $t[1];
                    } elsif ($cmd eq 'status') {
                        my $live = grep { !$_->{dead} && $_->{t} } @pairs;
                        my $held = grep { !$_->{dead} && !$_->{t} } @pairs;
                        $ans = "STATUS mode=$mode live=$live held=$held "
                             . join(' ', map { "$_=$n{$_}" } sort keys %n);
                    } elsif ($cmd eq 'quit') {
                        syswrite($ctl, "OK\n");
                        return;
                    } else {
                        $ans = 'ERROR';
                    }
                    syswrite($ctl, "$ans\n");
                }
                next;
            }
            if ($s == $listen) {
                my $c = $listen->accept or next;
                $n{accepted}++;
                if ($mode eq 'refuse') {
                    $n{refused}++;
                    close $c;
                    next;
                }
                $c->blocking(0);
                my $p = { c => $c, t => undef, to_c => '', to_t => '' };
                push @pairs, $p;
                $connect->($p) if $mode eq 'pass';
                next;
            }
            my ($p) = grep { !$_->{dead} && ($_->{c} == $s || ($_->{t} && $_->{t} == $s)) } @pairs;
            next unless $p;
            my $down = $p->{t} && $s == $p->{t};
            my $buf = '';
            my $got = sysread($s, $buf, 65536);
            if (!defined $got) {
                next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                $close_pair->($p);
            } elsif ($got == 0) {
                # One side closed: the other one is closed too, after one
                # try at writing what it still has to receive.
                my $other = $down ? $p->{c} : $p->{t};
                my $left = $down ? $p->{to_c} : $p->{to_t};
                syswrite($other, $left) if $other && length $left;
                $close_pair->($p);
            } elsif ($down) {
                if (defined $cut_after && $got >= $cut_after) {
                    # The allowed bytes are reached: cut (what is still
                    # queued is lost, as on a broken link) and hold.
                    $n{down_bytes} += $cut_after;
                    undef $cut_after;
                    $cut_all->();
                    $mode = 'hold';
                } else {
                    $cut_after -= $got if defined $cut_after;
                    $p->{to_c} .= $buf;
                    $n{down_bytes} += $got;
                }
            } else {
                $p->{to_t} .= $buf;
                $n{up_bytes} += $got;
            }
        }
        for my $s (@{ $w // [] }) {
            my ($p) = grep { !$_->{dead} && ($_->{c} == $s || ($_->{t} && $_->{t} == $s)) } @pairs;
            next unless $p;
            my $ref = $s == $p->{c} ? \$p->{to_c} : \$p->{to_t};
            my $wrote = syswrite($s, $$ref);
            if (!defined $wrote) {
                next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
                $close_pair->($p);
                next;
            }
            substr($$ref, 0, $wrote, '');
        }
        @pairs = grep { !$_->{dead} } @pairs;
    }
}

1;
