# Samples a module's memory over its run, from outside the module's process.
#
# The container's wrapper (`WRAPPER` in xtask/src/harness/mod.rs) starts this
# in the background right before the module, as `perl` with PERL5LIB, PERL5OPT
# and PERLLIB unset (core Perl only, no module loaded: Perl starts in a few ms,
# where Python took about 12 ms of CPU), with its stdout on an unlinked file
# the module's command does not get. It never ends by itself: the wrapper's
# `kill -KILL -1` ends it once the module has, then the wrapper prints the
# file on its own nonce-carrying line. The runner parses that line as
# untrusted (a module runs as the same user and could write into this file).
#
# Each sample is the resident set of every process in the container except
# PID 1 (the wrapper), this sampler, and the `timeout` and GNU `time`
# processes around the module (their own memory is not the module's), and
# the container's memory as its cgroup counts it (v2 `memory.current`, v1
# `memory.usage_in_bytes`; this sampler is in that figure, about 5 MiB).
#
# Samples are taken every PERIOD (10 ms) for the first 80 ms, then every
# eighth of the time so far (about 6 samples per doubling of the run: 125 ms
# apart at 1 s), at most every MAX_PERIOD (1 s, from 8 s on): each wake-up
# costs more than what the sample reads (on a virtual machine a system call
# after a sleep costs ~10 us; a sample, ~0.3 ms of CPU), so a short module
# gets its curve from few wake-ups and a long one a steady rate.
# Every sample is a bucket; when CAP buckets are full, neighbours are merged
# keeping each one's maximum (the peak survives), so a run of any length has
# at most CAP points, whose widths follow the samples'. The file always holds
# the buckets so far as fixed-width records, so it is whole whenever the
# sampler is killed: `TTTTTTTTT,RRRRRRRRRR,CCCCCCCCCC;` = the bucket's end in
# ms since the sampler started, its maximum RSS and cgroup memory in KiB
# (`-` when unknown).
#
# Time comes from /proc/uptime (the offline bases have no Time::HiRes), which
# counts hundredths of a second: a sample's time is the later of the previous
# one plus the period slept and the uptime, kept within the uptime's
# hundredth, so it is right to within 10 ms and never goes back.
#
# `--feed CAP` (for tests) takes samples as `T RSS CGROUP` lines on stdin
# (`-` for an unknown cgroup figure) instead of sampling.

my $CAP = 128;    # MAX_POINTS in xtask/src/model/series.rs; 32-byte records: the wrapper reads 4096 bytes
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

# A sample as a new bucket, mirrored into STDOUT; true when the buckets were
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
        sysseek(STDOUT, 0, 0);
        syswrite(STDOUT, join("", map { record(@$_) } @buckets));
        truncate(STDOUT, @buckets * $WIDTH);
    }
    push @buckets, [$t, $rss, $cg];
    syswrite(STDOUT, record($t, $rss, $cg));    # at the file's end, where the last write left it
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
# reads it; the POSIX module would cost more than the sampler itself.
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
# kernel counts it as it counts the high-water mark GNU time reports, which
# statm's exact count can exceed by a few hundred KiB.)
my %kept;
my $KEPT = 256;
# The pids of `timeout` (the wrapper's child) and GNU time (its child), which
# run the module: their own memory is not the module's. Once both are known,
# every other process is the module's (it starts under them), so each sample
# reads only the module's processes; until then each process's stat says
# its parent and name.
my ($timeout, $time);

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

# The resident set of the module's processes, in KiB.
sub module_rss_kib {
    my ($proc, $own) = @_;
    rewinddir($proc);
    my @pids = grep { /^[0-9]+$/ && $_ != 1 && $_ != $own } readdir $proc;
    my %listed = map { $_ => 1 } @pids;
    delete @kept{ grep { !$listed{$_} } keys %kept };
    my $sum = 0;
    if (defined $time) {
        for my $pid (@pids) {
            next if $pid == $timeout || $pid == $time;
            my $stat = stat_line($pid) // next;
            $sum += (split(" ", substr($stat, rindex($stat, ")") + 2), 23))[21];
        }
        return $sum * $page_kib;
    }
    my (%ppid, %comm, %rss);
    for my $pid (@pids) {
        my $data = stat_line($pid) // next;
        my $close = rindex($data, ")");
        my @fields = split(" ", substr($data, $close + 2), 23);
        $comm{$pid} = substr($data, index($data, "(") + 1, $close - index($data, "(") - 1);
        ($ppid{$pid}, $rss{$pid}) = @fields[1, 21];
    }
    my %outer;
    for my $t (grep { $ppid{$_} == 1 && $comm{$_} eq "timeout" } @pids) {
        $outer{$t} = 1;
        for my $g (grep { $ppid{$_} == $t && $comm{$_} eq "time" } @pids) {
            ($timeout, $time, $outer{$g}) = ($t, $g, 1);
        }
    }
    $sum += $rss{$_} for grep { !$outer{$_} } keys %rss;
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
    while (my $line = <STDIN>) {
        my ($t, $rss, $cg) = split(" ", $line);
        print STDERR add($t, $rss, $cg eq "-" ? undef : $cg) ? "merged\n" : "added\n";
    }
}

sub main {
    $page_kib = page_kib();
    my ($uptime, $cgroup);
    my $own = $$;
    # Not the cgroup's cgroup.procs: on cgroup v1 a reread of an open one
    # gives the list it gave first (cached while read within a second).
    opendir(my $proc, "/proc") or exit 1;
    open($uptime, "<", "/proc/uptime") or exit 1;
    open($cgroup, "<", "/sys/fs/cgroup/memory.current")
      or open($cgroup, "<", "/sys/fs/cgroup/memory/memory.usage_in_bytes")
      or undef $cgroup;
    my $start = uptime_cs($uptime);
    exit 1 unless defined $start;
    my $t = 0;
    while (1) {
        my $rss = module_rss_kib($proc, $own);
        my $cg = reread($cgroup);
        $cg = defined $cg && $cg =~ /^([0-9]+)/ ? int(($1 + 1023) / 1024) : undef;
        my $now = uptime_cs($uptime);
        my $up = defined $now ? ($now - $start) * 10 : $t;    # unreadable: the sleeps' sum
        $t = $up > $t ? $up : ($t < $up + 9 ? $t : $up + 9);
        add($t, $rss, $cg);
        # An eighth of the time so far, within [PERIOD, MAX_PERIOD] ms.
        my $period = $t / $SLOWDOWN;
        $period = $period < $PERIOD_MS ? $PERIOD_MS : $period > $MAX_PERIOD_MS ? $MAX_PERIOD_MS : int($period);
        select(undef, undef, undef, $period / 1000);
        $t += $period;
    }
}

if (@ARGV == 2 && $ARGV[0] eq "--feed") {
    feed($ARGV[1]);
} else {
    main();
}
