//! One module per command.

pub mod bench;
pub mod check;
pub mod ingest;
pub mod kb;
pub mod query;
pub mod remote;
pub mod serve;
pub mod status;
pub mod sync;
