//! A module's memory over its run, as the monitor in its container saw it
//! (`xtask/container/monitor.pl`): plain facts, a bounded list of
//! buckets, each keeping the largest value sampled in it, so the peak
//! survives the sampler's downsampling and ours.

use serde::{Deserialize, Serialize};

/// The most buckets a series holds (the monitor's `CAP`): what the wrapper
/// prints, a report stores and a page draws stays small at any run length.
pub const MAX_POINTS: usize = 128;

/// Parallel lists, one entry per bucket, in time order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemorySeries {
    /// Each bucket's end, in ms since the module's start (its sampler's start,
    /// forked right before the module).
    pub t_ms: Vec<u32>,
    /// The largest resident set of the module's processes in the bucket (all
    /// processes in its container but the wrapper and the monitor).
    pub rss_bytes: Vec<u64>,
    /// The largest memory of the container as its cgroup counts it (the
    /// sampler's own few MiB included); null where it could not be read.
    pub cgroup_bytes: Vec<Option<u64>>,
}

impl MemorySeries {
    pub fn is_empty(&self) -> bool {
        self.t_ms.is_empty()
    }

    /// The lists agree in length, hold at most `MAX_POINTS` buckets, and time
    /// does not go back (what a reader of a report may rely on).
    pub fn is_well_formed(&self) -> bool {
        let n = self.t_ms.len();
        n <= MAX_POINTS
            && self.rss_bytes.len() == n
            && self.cgroup_bytes.len() == n
            && self.t_ms.windows(2).all(|w| w[0] <= w[1])
    }

    /// The largest of either list, for a chart's scale.
    pub fn max_bytes(&self) -> u64 {
        let rss = self.rss_bytes.iter().copied().max().unwrap_or(0);
        rss.max(self.cgroup_bytes.iter().flatten().copied().max().unwrap_or(0))
    }

    /// The module's RSS in `n` equal slices of its run, each the largest of
    /// the buckets ending in it; a slice no bucket ends in lies inside the
    /// next bucket, and takes its value. Empty for an empty series.
    pub fn rss_in_slices(&self, n: usize) -> Vec<u64> {
        let mut slices: Vec<Option<u64>> = vec![None; n];
        let end = u64::from(self.t_ms.last().copied().unwrap_or(0)).max(1);
        if n == 0 || self.is_empty() {
            return Vec::new();
        }
        for (&t, &rss) in self.t_ms.iter().zip(&self.rss_bytes) {
            let at = ((u64::from(t) * n as u64).div_ceil(end) as usize).clamp(1, n) - 1;
            slices[at] = Some(slices[at].map_or(rss, |v: u64| v.max(rss)));
        }
        let mut next = 0;
        let mut filled: Vec<u64> = slices
            .into_iter()
            .rev()
            .map(|slice| {
                next = slice.unwrap_or(next);
                next
            })
            .collect();
        filled.reverse();
        filled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(points: &[(u32, u64)]) -> MemorySeries {
        MemorySeries {
            t_ms: points.iter().map(|p| p.0).collect(),
            rss_bytes: points.iter().map(|p| p.1).collect(),
            cgroup_bytes: points.iter().map(|p| Some(p.1 + 1)).collect(),
        }
    }

    #[test]
    fn slices_keep_each_ones_maximum() {
        let s = series(&[(10, 1), (20, 9), (30, 2), (40, 3)]);
        assert_eq!(s.rss_in_slices(2), [9, 3]);
        assert_eq!(s.rss_in_slices(8), [1, 1, 9, 9, 2, 2, 3, 3], "a slice takes the bucket it lies in");
        assert_eq!(s.max_bytes(), 10);
        assert!(s.is_well_formed());
        assert!(!series(&[(20, 1), (10, 1)]).is_well_formed());
        assert!(MemorySeries::default().rss_in_slices(3).is_empty());
    }
}
