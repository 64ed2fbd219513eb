//! What a run is about: jobs (module × variant), their statuses and results,
//! and the report schema that is both written and read.

pub mod compare;
pub mod inner;
pub mod job;
pub mod limits;
pub mod memray;
pub mod pythons;
pub mod repeat;
pub mod result;
pub mod schema;
pub mod status;
