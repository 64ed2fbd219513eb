# The module's parent in its container: its deadline, its peak RSS from the
# kernel, and its memory over time, in one process.
#
# The container's wrapper (`WRAPPER` in xtask/src/harness/mod.rs) runs this as
# `/opt/pymaccounter-perl monitor.pl DEADLINE SERIES PERL5OPT SCRATCH... --
# COMMAND...` with PERL5OPT emptied (its own value, `=VALUE` or empty when
# unset, is the third argument and is given back to the module), loading no
# Perl module at all (so PERL5LIB cannot matter). It unlinks the wrapper's
# scratch files, makes its descriptors 5 (the figures) and 7 (the series)
# close-on-exec, and runs COMMAND as its child: the module inherits neither.
# Its perl is an execute-only copy (see Dockerfile), so the kernel makes it
# non-dumpable: the module, the same user with no capabilities, can neither
# open its descriptors through /proc nor touch its memory. What it writes on 5
# and 7 is therefore its own: a module cannot forge its peak or its time.
#
# When COMMAND ends it writes `EXIT PEAK_KIB ELAPSED` on descriptor 5 (EXIT is
# 0 when a signal ended it; the peak is wait4's ru_maxrss, the module's own
# high-water mark from the kernel) and exits with COMMAND's status, or 128 +
# the signal. At DEADLINE seconds it exits 124 at once, writing nothing (the
# wrapper then kills everything left): so the deadline holds inside the
# container even when the runner is gone. 126/127 when COMMAND cannot run.
#
# SERIES `on`: it samples the module's memory while it waits. Each sample is
# the resident set of every process in the container but PID 1 (the wrapper)
# and this one, and the container's memory as its cgroup counts it (v2
# `memory.current`, v1 `memory.usage_in_bytes`; this process is in that
# figure, about 5 MiB).
#
# Samples are taken every PERIOD (10 ms), from 10 ms to 80 ms, then every
# eighth of the time so far (about 6 samples per doubling of the run: 125 ms
# apart at 1 s), at most every MAX_PERIOD (1 s, from 8 s on): each wake-up
# costs more than what the sample reads (on a virtual machine a system call
# after a sleep costs ~10 us; a sample, ~0.3 ms of CPU), so a short module
# gets its curve from few wake-ups and a long one a steady rate.
# Every sample is a bucket; when CAP buckets are full, neighbours are merged
# keeping each one's maximum (the peak survives), so a run of any length has
# at most CAP points, whose widths follow the samples'. Descriptor 7 always
# holds the buckets so far as fixed-width records, so it is whole whenever
# this process stops: `TTTTTTTTT,RRRRRRRRRR,CCCCCCCCCC;` = the bucket's end
# in ms since it started, its maximum RSS and cgroup memory in KiB (`-` when
# unknown).
#
# Time comes from /proc/uptime (the offline bases have no Time::HiRes), which
# counts hundredths of a second: a sample's time is the later of the previous
# one plus the period slept and the uptime, kept within the uptime's
# hundredth, so it is right to within 10 ms and never goes back.
#
# `--feed CAP` (for tests) takes samples as `T RSS CGROUP` lines on stdin
# (`-` for an unknown cgroup figure) and writes the records on stdout.

my $CAP = 128;    # MAX_POINTS in xtask/src/model/series.rs; 32-byte records: 4096 bytes at most
my $PERIOD_MS = 10;
my $SLOWDOWN = 8;
my $MAX_PERIOD_MS = 1000;
my $WIDTH = 32;
my @buckets;      # [t_ms, rss_kib, cgroup_kib or undef]

sub record {
    my ($t, $rss, $cg) = @_;
    $t = 999999999 if $t > 999999999;
    $rss = 9999999999 if $rss > 9999999999;
    my $cgs = defined $cg ? sprintf("%010d", $cg > 9999999999 ? 9999999999 : $cg) : "-" x 10;
    return sprintf("%09d,%010d,%s;", $t, $rss, $cgs);
}

# Where the records go: descriptor 7, or stdout for `--feed`.
my $OUT;

# A sample as a new bucket, mirrored into $OUT; true when the buckets were
# merged first.
sub add {
    my ($t, $rss, $cg) = @_;
    my $merged = @buckets == $CAP;
    if ($merged) {
        my @pairs;
        for (my $i = 0; $i + 1 < @buckets; $i += 2) {
            my ($x, $y) = @buckets[$i, $i + 1];
            my $c = defined $x->[2] && defined $y->[2] ? ($x->[2] > $y->[2] ? $x->[2] : $y->[2]) : undef;
            push @pairs, [$y->[0], ($x->[1] > $y->[1] ? $x->[1] : $y->[1]), $c];
        }
        @buckets = @pairs;
        # Rewritten whole, then cut to its new length.
        sysseek($OUT, 0, 0);
        syswrite($OUT, join("", map { record(@$_) } @buckets));
        truncate($OUT, @buckets * $WIDTH);
    }
    push @buckets, [$t, $rss, $cg];
    syswrite($OUT, record($t, $rss, $cg));    # at the file's end, where the last write left it
    return $merged;
}

# The start of an open /proc or cgroup file, read afresh.
sub reread {
    my ($fh) = @_;
    my $data;
    return undef unless defined $fh && sysseek($fh, 0, 0) && sysread($fh, $data, 1024);
    return $data;
}

# The page size in KiB, from the auxiliary vector (AT_PAGESZ) as sysconf
# reads it; the POSIX module would cost more than sampling itself.
sub page_kib {
    my ($fh, $auxv);
    if (open($fh, "<", "/proc/self/auxv") && sysread($fh, $auxv, 4096)) {
        my %aux = unpack("(L!L!)*", $auxv);
        return $aux{6} / 1024 if $aux{6};
    }
    return 4;
}

my $page_kib;

# pid -> its open /proc/PID/stat, kept across samples and read afresh each
# time: two system calls where opening costs six. At most KEPT of them, well
# within the container's open files limit. (stat's RSS, not statm's: the
# kernel counts it as it counts the high-water mark wait4 reports, which
# statm's exact count can exceed by a few hundred KiB.)
my %kept;
my $KEPT = 256;

# /proc/PID/stat, read afresh.
sub stat_line {
    my ($pid) = @_;
    my $data = reread($kept{$pid});
    return $data if defined $data;
    delete $kept{$pid};    # new, or its old handle is of a process gone (a reused pid)
    open(my $fh, "<", "/proc/$pid/stat") or return undef;    # gone since the listing
    $data = reread($fh);
    $kept{$pid} = $fh if defined $data && keys %kept < $KEPT;
    return $data;
}

# The resident set of the module's processes (all but PID 1 and this one), in KiB.
sub module_rss_kib {
    my ($proc) = @_;
    rewinddir($proc);
    my @pids = grep { /^[0-9]+$/ && $_ != 1 && $_ != $$ } readdir $proc;
    my %listed = map { $_ => 1 } @pids;
    delete @kept{ grep { !$listed{$_} } keys %kept };
    my $sum = 0;
    for my $pid (@pids) {
        my $stat = stat_line($pid) // next;
        $sum += (split(" ", substr($stat, rindex($stat, ")") + 2), 23))[21];
    }
    return $sum * $page_kib;
}

# /proc/uptime in hundredths of a second.
sub uptime_cs {
    my $up = reread($_[0]);
    return defined $up && $up =~ /^([0-9]+)\.([0-9][0-9])/ ? $1 * 100 + $2 : undef;
}

# `--feed CAP`: samples from stdin, saying on stderr whether each merged.
sub feed {
    $CAP = $_[0];
    $OUT = \*STDOUT;
    while (my $line = <STDIN>) {
        my ($t, $rss, $cg) = split(" ", $line);
        print STDERR add($t, $rss, $cg eq "-" ? undef : $cg) ? "merged\n" : "added\n";
    }
}

# wait4's number and the size of a C long here, from an ELF header of this
# system (the machine and class fields; Config.pm would be a module to load,
# and this perl, execute-only, cannot read itself): undef where unknown, and
# then the peak is not measured.
sub wait4_call {
    open(my $elf, "<", "/bin/sh") or return;
    sysread($elf, my $header, 20) == 20 or return;
    my ($magic, $class, $data) = unpack("a4 C C", $header);
    return unless $magic eq "\x7fELF";
    my $machine = unpack($data == 2 ? "n" : "v", substr($header, 18, 2));
    my %numbers = (62 => 61, 183 => 260, 243 => 260, 258 => 260, 3 => 114, 40 => 114, 20 => 114, 21 => 114, 22 => 114);
    return unless exists $numbers{$machine};
    return ($numbers{$machine}, $class == 2 ? 8 : 4);
}

# Reaps the child if it has ended: its wait status and ru_maxrss in KiB
# (undef where wait4 is unknown), or nothing yet. 1: WNOHANG.
sub reap {
    my ($pid, $wait4, $long) = @_;
    if (!defined $wait4) {
        my $got = waitpid($pid, 1);
        return $got == $pid ? ($?, undef) : ();
    }
    my ($status, $usage) = ("\0" x 4, "\0" x 256);
    my $got = syscall($wait4, $pid, $status, 1, $usage);
    return () unless $got == $pid;
    # struct rusage: two timevals (four longs), then ru_maxrss.
    my $maxrss = unpack($long == 8 ? "q" : "l", substr($usage, 4 * $long, $long));
    return (unpack("i", $status), $maxrss);
}

sub main {
    my ($deadline, $series, $perl5opt, @rest) = @ARGV;
    my $split = 0;
    $split++ while $split < @rest && $rest[$split] ne "--";
    my @scratch = @rest[0 .. $split - 1];
    my @command = @rest[$split + 1 .. $#rest];
    exit 125 unless defined $perl5opt && @command && $deadline =~ /^[0-9]+(\.[0-9]+)?$/;
    unlink @scratch;
    open(my $figures, ">&=", 5) or exit 125;
    fcntl($figures, 2, 1) or exit 125;    # F_SETFD, FD_CLOEXEC
    open(my $records, "+<&=", 7) or exit 125;
    fcntl($records, 2, 1) or exit 125;
    $OUT = $records if $series eq "on";
    my ($wait4, $long) = wait4_call();
    open(my $uptime, "<", "/proc/uptime") or exit 125;
    my $start = uptime_cs($uptime) // exit 125;
    my $child_ended = 0;
    local $SIG{CHLD} = sub { $child_ended = 1 };
    my $pid = fork() // exit 125;
    if ($pid == 0) {
        $SIG{CHLD} = "DEFAULT";
        if ($perl5opt eq "") { delete $ENV{PERL5OPT} } else { $ENV{PERL5OPT} = substr($perl5opt, 1) }
        exec { $command[0] } @command;
        my $missing = $! == 2;    # ENOENT
        print STDERR "pymaccounter: cannot run $command[0]: $!\n";
        exit($missing ? 127 : 126);
    }
    # A descriptor that becomes readable when the child ends (Linux 5.3+):
    # no wake-up is missed between a check and a sleep.
    my $pidfd = syscall(434, $pid, 0);    # pidfd_open: the same number on every architecture
    my ($proc, $cgroup);
    if ($OUT) {
        $page_kib = page_kib();
        opendir($proc, "/proc") or undef $OUT;
        # Not the cgroup's cgroup.procs: on cgroup v1 a reread of an open one
        # gives the list it gave first (cached while read within a second).
        open($cgroup, "<", "/sys/fs/cgroup/memory.current")
          or open($cgroup, "<", "/sys/fs/cgroup/memory/memory.usage_in_bytes")
          or undef $cgroup;
    }
    my $t = 0;
    # No sample at once: the module is still being exec'd, its RSS next to nothing.
    my $first = 1;
    my ($status, $maxrss);
    while (1) {
        ($status, $maxrss) = reap($pid, $wait4, $long);
        last if defined $status;
        my $now = uptime_cs($uptime);
        my $up = defined $now ? ($now - $start) * 10 : $t;    # unreadable: the sleeps' sum
        exit 124 if $up >= $deadline * 1000;
        my $period = $MAX_PERIOD_MS;
        if ($OUT && $first) {
            ($first, $period) = (0, $PERIOD_MS);
        } elsif ($OUT) {
            my $rss = module_rss_kib($proc);
            my $cg = reread($cgroup);
            $cg = defined $cg && $cg =~ /^([0-9]+)/ ? int(($1 + 1023) / 1024) : undef;
            $t = $up > $t ? $up : ($t < $up + 9 ? $t : $up + 9);
            # Nothing resident: the module has ended and awaits its reaping (a
            # zombie's RSS is 0), which is no figure of its run.
            add($t, $rss, $cg) if $rss > 0;
            # An eighth of the time so far, within [PERIOD, MAX_PERIOD] ms.
            $period = $t / $SLOWDOWN;
            $period = $period < $PERIOD_MS ? $PERIOD_MS : $period > $MAX_PERIOD_MS ? $MAX_PERIOD_MS : int($period);
        }
        my $left = $deadline * 1000 - $up;
        $period = $left if $left < $period;
        if ($pidfd >= 0) {
            my $readable = "";
            vec($readable, $pidfd, 1) = 1;
            select($readable, undef, undef, $period / 1000);
        } else {
            # No pidfd: SIGCHLD cuts the sleep short; one arriving right
            # before it starts is seen within 100 ms. (Reset each time: a
            # child stopped and continued sends one too.)
            select(undef, undef, undef, ($period < 100 ? $period : 100) / 1000) unless $child_ended;
            $child_ended = 0;
        }
        $t += $period;
    }
    my $end = uptime_cs($uptime) // $start;
    my $signal = $status & 0x7f;
    my $code = $signal ? 0 : ($status >> 8) & 0xff;
    syswrite($figures, sprintf("%d %s %.2f\n", $code, $maxrss // "-", ($end - $start) / 100));
    exit($signal ? 128 + $signal : $code);
}

if (@ARGV == 2 && $ARGV[0] eq "--feed") {
    feed($ARGV[1]);
} else {
    main();
}
