//! What a run is about: jobs (module × variant), their statuses and results,
//! and the report schema that is both written and read.

pub mod captured;
pub mod choice;
pub mod compare;
pub mod event;
pub mod inner;
pub mod job;
pub mod limits;
pub mod measure;
pub mod memray;
pub mod pythons;
pub mod repeat;
pub mod result;
pub mod schema;
pub mod schema_v2;
pub mod series;
pub mod skim;
pub mod status;
pub mod units;
