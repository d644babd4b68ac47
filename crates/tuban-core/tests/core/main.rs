//! Integration tests of tuban-core on real fixtures, linked as one test binary: the project
//! store, import, imagery, render, report, export and the casework.

#[path = "../../../../tests/common/mod.rs"]
mod common;
#[path = "../../../../tests/common/pg.rs"]
mod pg;
#[path = "../../../../tests/common/synth.rs"]
mod synth;

mod corpus;
mod delivered;
mod export;
mod hub;
mod imagery;
mod imagery_paths;
mod import;
mod reference;
mod render;
mod report;
mod seal;
mod spatial;
mod store;
mod subpatches;
mod team;
mod truths;
mod workflow;
