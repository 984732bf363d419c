//! Benchmarks live in `benches/` (criterion) and `src/bin/load.rs` (the load harness).
