//! Scenarios built in code rather than written as files: see
//! `tests/heartbeats.rs`. Run them in the simulation build:
//!
//! ```text
//! RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target-madsim cargo test -p scenarios-in-code
//! RUSM_ACCEPT=1 ...                  # pin a new or changed trace, once read
//! ```
