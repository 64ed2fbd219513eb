//! What memray recorded of one module (`--memray`): the figures the runner
//! reports, from `xtask/container/memray_summary.py`'s summary, and the
//! allocation stacks its flame graph is drawn from.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemraySummary {
    /// The heap's high-water mark (memray's `metadata.peak_memory`).
    pub peak_memory_bytes: Option<u64>,
    pub total_allocations: Option<u64>,
    pub total_bytes_allocated: Option<u64>,
    /// The resident memory memray's own import and start added to the
    /// module's process before the module ran: RSS under `--memray` includes
    /// it (and memray's tracking buffers, which grow with the module).
    #[serde(default)]
    pub profiler_rss_bytes: Option<u64>,
    /// The allocator that really ran (`pymalloc`, `malloc`, …).
    pub python_allocator: Option<String>,
    #[serde(default)]
    pub top_allocations_by_size: Vec<AllocationSite>,
    /// `allocations`, or `leaks` (the leaks flame graph, when pymalloc was off).
    pub flamegraph: String,
    /// Where the flame graph was saved (next to the reports, or in the run's folder).
    #[serde(default)]
    pub flamegraph_path: Option<PathBuf>,
    /// A pytest file using pytest-memray's markers, whose per-test trackers
    /// were the only ones (memray runs one at a time): how many per-test
    /// captures these figures merge (the heap's peak is the largest test's
    /// own, allocations, sites and stacks are summed over the tests, held at
    /// each test's peak; no total of bytes). `None`: memray recorded the
    /// whole module.
    #[serde(default)]
    pub per_test_captures: Option<u64>,
}

#[cfg(test)]
impl MemraySummary {
    /// A whole module's summary with its heap's peak alone, for tests.
    pub fn with_peak(bytes: u64) -> MemraySummary {
        MemraySummary {
            peak_memory_bytes: Some(bytes),
            total_allocations: None,
            total_bytes_allocated: None,
            profiler_rss_bytes: None,
            python_allocator: None,
            top_allocations_by_size: Vec::new(),
            flamegraph: "allocations".into(),
            flamegraph_path: None,
            per_test_captures: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationSite {
    /// `function:file:line`.
    pub location: Option<String>,
    pub size_bytes: Option<u64>,
}

/// One frame of an allocation's stack: the function, its file, the line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
pub struct Frame(pub String, pub String, pub u32);

/// Allocations that share one stack (root first), as the flame graph draws them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Stack {
    pub frames: Vec<Frame>,
    pub bytes: u64,
    #[serde(default)]
    pub allocations: u64,
}
