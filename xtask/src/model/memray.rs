//! What memray recorded of one module (`--memray`): the figures the runner
//! reports, from `xtask/container/memray_collect.py`'s summary.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemraySummary {
    /// The heap's high-water mark (memray's `metadata.peak_memory`).
    pub peak_memory_bytes: Option<u64>,
    pub total_allocations: Option<u64>,
    pub total_bytes_allocated: Option<u64>,
    /// The allocator that really ran (`pymalloc`, `malloc`, …).
    pub python_allocator: Option<String>,
    #[serde(default)]
    pub top_allocations_by_size: Vec<AllocationSite>,
    /// `allocations`, or `leaks` (the leaks flame graph, when pymalloc was off).
    pub flamegraph: String,
    /// Where the flame graph was saved (next to the reports, or in the run's folder).
    #[serde(default)]
    pub flamegraph_path: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationSite {
    /// `function:file:line`.
    pub location: Option<String>,
    pub size_bytes: Option<u64>,
}
