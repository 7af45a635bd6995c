//! `taskmon`: see `taskmon --help`, or the README.

fn main() -> std::process::ExitCode {
    taskmon::cli::main()
}
