//! The `taskmon` binary, built in this package so the benchmarks measure a build without tokio's
//! test-util.

fn main() -> std::process::ExitCode {
    taskmon::cli::main()
}
