package Writer;
# A background writer for replication tests: a forked client that keeps
# writing to a server (set, add, append, prepend, incr, decr, delete,
# touch, gat, ms, md, ma, mg with T) one request at a time, keeps a model
# of what each key should hold, and checks every reply against it byte
# for byte.
#
#   my $w = Writer->start($master->port);                # keys w0..w199, c0..c9
#   my $w = Writer->start($port, tag => 'x');            # keys xw0.., xc0..: a
#                        # writer's keys must not hold items when it starts
#   my $w = Writer->start($port, update => [ 'item', 200_000 ]);
#                        # only rewrites existing keys item0..item199999
#                        # (reading each one's value the first time; a
#                        # third element, a sub, gives it instead): the
#                        # number of items never changes
#   my $r = $w->stop;    # { ops => N, bad => M, first => 'first mismatch' }
#
# The writer stops when told to, after `max_ops` requests (default
# 2,000,000) or after `max_secs` seconds (default 120), whichever comes
# first; `stop` waits for its report at most 30 s.
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use POSIX ();
use Socket qw(SOL_SOCKET SO_RCVTIMEO);
use Time::HiRes qw(usleep time);

sub start {
    my ($class, $port, %opt) = @_;
    pipe(my $stop_r, my $stop_w) or die "pipe: $!";
    pipe(my $res_r, my $res_w) or die "pipe: $!";
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        close $stop_w;
        close $res_r;
        my $report = eval { run($port, $stop_r, %opt) } // "ops=0 bad=1 first=" . ($@ =~ s/\s+/ /gr);
        syswrite($res_w, "$report\n");
        POSIX::_exit(0);
    }
    close $stop_r;
    close $res_w;
    return bless { pid => $pid, stop_w => $stop_w, res_r => $res_r }, $class;
}

sub pid { $_[0]{pid} }

# Tells the writer to stop and returns its report.
sub stop {
    my $self = shift;
    return $self->{report} if $self->{report};
    # A byte, not just the close: other forked helpers may hold a copy of
    # the pipe's end, and the writer would never see it close.
    syswrite($self->{stop_w}, "s");
    close $self->{stop_w};
    my %r = (ops => 0, bad => 1, first => 'no report from the writer');
    if (IO::Select->new($self->{res_r})->can_read(30)) {
        my $line = readline($self->{res_r}) // '';
        chomp $line;
        if ($line =~ /^ops=(\d+) bad=(\d+)(?: first=(.*))?\z/) {
            %r = (ops => $1, bad => $2, first => $3 // '');
        }
    }
    my $deadline = time + 10;
    while (time < $deadline && waitpid($self->{pid}, POSIX::WNOHANG()) != $self->{pid}) {
        usleep(10_000);
    }
    kill 'KILL', $self->{pid} if time >= $deadline;
    waitpid($self->{pid}, POSIX::WNOHANG());
    return $self->{report} = \%r;
}

sub DESTROY {
    my $self = shift;
    local $?;
    $self->stop unless $self->{report};
}

# ---- the writer process ----

sub run {
    my ($port, $stop_r, %opt) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port", Proto => 'tcp', Timeout => 5)
        or die "writer: connect: $!";
    $s->autoflush(1);
    setsockopt($s, SOL_SOCKET, SO_RCVTIMEO, pack('l!l!', 30, 0));
    my $max_ops = $opt{max_ops} // 2_000_000;
    my $end = time + ($opt{max_secs} // 120);
    my $stop = IO::Select->new($stop_r);
    my ($ops, $bad, $first) = (0, 0, '');
    my %val;                              # key => value (absent: no item)
    my $tag = $opt{tag} // '';
    my ($prefix, $nkeys, $init) = @{ $opt{update} // [] };
    my $update = defined $prefix;
    my $reply;
    my $value_of = sub {
        my $k = shift;
        return $val{$k} if exists $val{$k};
        return undef unless $update;
        return $init->($k =~ s/^\Q$prefix\E//r) if $init;
        # Learns the value the first time it uses the key.
        print $s "mg $k v\r\n";
        my $got = $reply->();
        return $val{$k} = $got =~ /^VA \d+\r\n(.*)\r\n\z/s ? $1 : undef;
    };
    # One reply: a line, and the data block after a VA or VALUE line.
    $reply = sub {
        my $got = <$s> // '';
        if ($got =~ /^VA (\d+)/ || $got =~ /^VALUE \S+ \d+ (\d+)/) {
            my ($len, $data) = ($1 + 2, '');
            while (length $data < $len) {
                my $n = read($s, $data, $len - length $data, length $data);
                last unless $n;
            }
            $got .= $data;
            $got .= <$s> // '' if $got =~ /^VALUE /;
        }
        return $got;
    };
    my $check = sub {
        my ($req, $want) = @_;
        print $s $req;
        my $got = $reply->();
        $ops++;
        if (ref $want ? $got !~ $want : $got ne $want) {
            $bad++;
            $first ||= "sent " . ($req =~ s/\r\n/\\r\\n/gr) . " got " . ($got =~ s/\r\n/\\r\\n/gr);
        }
    };
    unless ($update) {
        for my $c (0 .. 9) {
            $check->("set ${tag}c$c 0 0 1\r\n0\r\n", "STORED\r\n");
            $val{"${tag}c$c"} = 0;
        }
    }
    my $i = 0;
    while ($ops < $max_ops) {
        if ($i % 64 == 0) {
            last if time >= $end || $stop->can_read(0);
        }
        $i++;
        my $k = $update ? $prefix . int(rand($nkeys)) : "${tag}w" . ($i * 7919 % 200);
        my $c = "${tag}c" . ($i % 10);
        my $cur = $value_of->($k);
        my $op = $update ? (0, 2, 3, 4, 5, 9, 10)[$i % 7] : $i % 14;
        if ($op == 0) {
            my $v = "v$i";
            $check->("set $k 3 0 " . length($v) . "\r\n$v\r\n", "STORED\r\n");
            $val{$k} = $v;
        } elsif ($op == 1) {
            my $n = $val{$c} + 3;
            $check->("incr $c 3\r\n", "$n\r\n");
            $val{$c} = $n;
        } elsif ($op == 2) {
            if (defined $cur && length $cur > 200) {
                $check->("set $k 0 0 1\r\nr\r\n", "STORED\r\n");
                $val{$k} = 'r';
            } elsif (defined $cur) {
                $check->("append $k 0 0 2\r\n+a\r\n", "STORED\r\n");
                $val{$k} = "$cur+a";
            } else {
                $check->("append $k 0 0 2\r\n+a\r\n", "NOT_STORED\r\n");
            }
        } elsif ($op == 3) {
            if (defined $cur && length $cur <= 200) {
                $check->("prepend $k 0 0 2\r\np-\r\n", "STORED\r\n");
                $val{$k} = "p-$cur";
            } elsif (!defined $cur) {
                $check->("prepend $k 0 0 2\r\np-\r\n", "NOT_STORED\r\n");
            }
        } elsif ($op == 4) {
            $check->("touch $k 3600\r\n", defined $cur ? "TOUCHED\r\n" : "NOT_FOUND\r\n");
        } elsif ($op == 5) {
            my $v = "ms$i";
            $check->("ms $k " . length($v) . " T7200 F5\r\n$v\r\n", "HD\r\n");
            $val{$k} = $v;
        } elsif ($op == 6) {
            my $n = $val{$c} + 1;
            $check->("ma $c\r\n", "HD\r\n");
            $val{$c} = $n;
        } elsif ($op == 7) {
            $check->("delete $k\r\n", defined $cur ? "DELETED\r\n" : "NOT_FOUND\r\n");
            delete $val{$k};
        } elsif ($op == 8) {
            # q hides HD, not NF.
            if (defined $cur) {
                $check->("md $k q\r\nmn\r\n", "MN\r\n");
            } else {
                $check->("md $k q\r\n", "NF\r\n");
            }
            delete $val{$k};
        } elsif ($op == 9) {
            $check->("mg $k T5400 v\r\n",
                     defined $cur ? "VA " . length($cur) . "\r\n$cur\r\n" : "EN\r\n");
        } elsif ($op == 10) {
            # The flags are whichever the last full write gave.
            $check->("gat 4000 $k\r\n", defined $cur
                     ? qr/^VALUE \Q$k\E \d+ ${\ length $cur}\r\n\Q$cur\E\r\nEND\r\n\z/
                     : "END\r\n");
        } elsif ($op == 11) {
            my $v = "add$i";
            $check->("add $k 1 0 " . length($v) . "\r\n$v\r\n",
                     defined $cur ? "NOT_STORED\r\n" : "STORED\r\n");
            $val{$k} = $v unless defined $cur;
        } elsif ($op == 12) {
            my $n = $val{$c} > 2 ? $val{$c} - 2 : 0;
            $check->("decr $c 2\r\n", "$n\r\n");
            $val{$c} = $n;
        } else {
            my $n = $val{$c} + 5;
            $check->("ma $c D5 v\r\n", "VA " . length($n) . "\r\n$n\r\n");
            $val{$c} = $n;
        }
    }
    close $s;
    return "ops=$ops bad=$bad" . ($bad ? " first=$first" : '');
}

1;
