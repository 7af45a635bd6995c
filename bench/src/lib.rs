//! taskmon's benchmarks live in `perf.rs` beside this package's manifest: `cargo bench`.
