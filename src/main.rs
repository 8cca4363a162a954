//! The `slipway` command: parses flags, calls the library, renders what it reports.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
