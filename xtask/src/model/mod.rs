//! What a run is about: jobs (module × variant), their statuses and results.

pub mod job;
