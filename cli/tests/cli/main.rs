//! The one integration-test binary: the `migrate` command as users run it.

mod adopt;
mod archive;
mod bad_input;
mod check;
mod checkpoints;
mod crash;
mod docs;
mod drill;
mod embed;
mod embed_build;
mod fleet;
mod histories;
mod new;
mod race;
mod runner;
mod source;
mod support;
