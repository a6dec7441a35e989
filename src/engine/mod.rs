//! The run lifecycle: describe and materialise the model, plan the diff,
//! deliver in batches, record every outcome.

pub mod alerts;
mod decisions;
pub mod launch;
pub mod lifecycle;
pub mod logs;
pub mod model;
pub mod pool;
pub mod positions;
mod preview;
pub mod recovery;
mod reset_cdc;
pub mod run;
pub mod sequence;
pub mod test_row;
pub mod validate;
pub mod worker;
