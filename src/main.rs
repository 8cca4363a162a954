use std::process::ExitCode;

fn main() -> ExitCode {
    slipway::cli::main()
}
