//! The run lifecycle: describe and materialise the model, plan the diff,
//! deliver in batches, record every outcome.

pub mod launch;
pub mod model;
pub mod plan;
pub mod run;
pub mod sequence;
pub mod test_row;
pub mod validate;
