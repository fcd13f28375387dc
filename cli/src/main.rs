//! The `migrate` command: parse, run, map to an exit code.
//!
//! Exit codes: 0 done, 1 failed or refused, 2 bad usage or bad input.
//! A broken pipe (`migrate log | head`) is not an error.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
