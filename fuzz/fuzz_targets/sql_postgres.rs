#![no_main]
//! See sqlmux_protocol::fuzz_targets::sql_postgres.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sqlmux_protocol::fuzz_targets::sql_postgres(data));
