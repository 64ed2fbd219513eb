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
# `memory.usage_in_bytes`; this sampler is in that figure, about 2 MiB).
#
# Every sample is a bucket, every PERIOD at first; when CAP buckets are full,
# neighbours are merged keeping each one's maximum (the peak survives) and the
# period doubles, so a run of any length has between CAP/2 and CAP points and
# costs fewer samples the longer it runs. The file always holds the buckets so
# far as fixed-width records, so it is whole whenever the sampler is killed:
# `TTTTTTTTT,RRRRRRRRRR,CCCCCCCCCC;` = the bucket's end in ms since the
# sampler started, its maximum RSS and cgroup memory in KiB (`-` when unknown).
#
# Time comes from /proc/uptime (the offline bases have no Time::HiRes), which
# counts hundredths of a second: a sample's time is the later of the previous
# one plus the period slept and the uptime, kept within the uptime's
# hundredth, so it is right to within 10 ms and never goes back.
#
# `--feed CAP` (for tests) takes samples as `T RSS CGROUP` lines on stdin
# (`-` for an unknown cgroup figure) instead of sampling.

my $CAP = 128;    # MAX_POINTS in xtask/src/model/series.rs; 32-byte records: the wrapper reads 4096 bytes
my $PERIOD_MS = 5;
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
# merged first (the caller then samples half as often).
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
    sysseek(STDOUT, $#buckets * $WIDTH, 0);
    syswrite(STDOUT, record($t, $rss, $cg));
    return $merged;
}

# The first line of an open /proc or cgroup file, read afresh.
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

# pid -> its open /proc/PID/stat, kept across samples (read afresh each time:
# two system calls where opening costs six); at most KEPT of them, well
# within the container's open files limit.
my %stat;
my $KEPT = 256;

# The resident set of the module's processes, in KiB.
sub module_rss_kib {
    my ($proc, $own) = @_;
    rewinddir($proc);
    my (%ppid, %comm, %rss, %listed);
    for my $pid (readdir $proc) {
        next if $pid !~ /^[0-9]+$/ || $pid == 1 || $pid == $own;
        $listed{$pid} = 1;
        my $data = reread($stat{$pid});
        if (!defined $data) {    # new, or its old handle is a process gone (a reused pid)
            delete $stat{$pid};
            open(my $fh, "<", "/proc/$pid/stat") or next;    # gone since the listing
            $data = reread($fh) // next;
            $stat{$pid} = $fh if keys %stat < $KEPT;
        }
        my $close = rindex($data, ")");
        my @fields = split(" ", substr($data, $close + 2), 23);
        $comm{$pid} = substr($data, index($data, "(") + 1, $close - index($data, "(") - 1);
        ($ppid{$pid}, $rss{$pid}) = @fields[1, 21];
    }
    delete @stat{ grep { !$listed{$_} } keys %stat };
    # `timeout` (a child of the wrapper) and GNU time (its child) run the module.
    my %outer = map { $_ => 1 } grep { $ppid{$_} == 1 && $comm{$_} eq "timeout" } keys %ppid;
    $outer{$_} = 1 for grep { $outer{ $ppid{$_} } && $comm{$_} eq "time" } keys %ppid;
    my $sum = 0;
    $sum += $rss{$_} for grep { !$outer{$_} } keys %rss;
    return $sum * $page_kib;
}

sub uptime_cs {
    my $up = reread($_[0]);
    return defined $up && $up =~ /^([0-9]+)\.([0-9][0-9])/ ? $1 * 100 + $2 : undef;
}

sub feed {
    $CAP = $_[0];
    while (my $line = <STDIN>) {
        my ($t, $rss, $cg) = split(" ", $line);
        print STDERR add($t, $rss, $cg eq "-" ? undef : $cg) ? "merged\n" : "added\n";
    }
}

sub main {
    $page_kib = page_kib();
    my ($proc, $uptime, $cgroup);
    opendir($proc, "/proc") or exit 1;
    open($uptime, "<", "/proc/uptime") or exit 1;
    open($cgroup, "<", "/sys/fs/cgroup/memory.current")
      or open($cgroup, "<", "/sys/fs/cgroup/memory/memory.usage_in_bytes")
      or undef $cgroup;
    my $start = uptime_cs($uptime);
    exit 1 unless defined $start;
    my ($period, $t, $own) = ($PERIOD_MS, 0, $$);
    while (1) {
        my $rss = module_rss_kib($proc, $own);
        my $cg = reread($cgroup);
        $cg = defined $cg && $cg =~ /^([0-9]+)/ ? int(($1 + 1023) / 1024) : undef;
        my $up = (uptime_cs($uptime) - $start) * 10;
        $t = $up > $t ? $up : ($t < $up + 9 ? $t : $up + 9);
        $period *= 2 if add($t, $rss, $cg);
        select(undef, undef, undef, $period / 1000);
        $t += $period;
    }
}

if (@ARGV == 2 && $ARGV[0] eq "--feed") {
    feed($ARGV[1]);
} else {
    main();
}
