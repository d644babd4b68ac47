//! End-to-end tests of the `tuban` binary, linked as one test binary: the command line, crash
//! safety under kill -9, bad input through every entry point, and the architecture rules.

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/pg.rs"]
mod pg;

mod architecture;
mod cli;
mod reliability;
mod subpatches;
