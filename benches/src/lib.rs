//! Benchmarks live in `benches/` (criterion) and `src/bin/load/` (the load harness; `failover.rs` its failover runs).
