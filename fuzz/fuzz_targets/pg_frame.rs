#![no_main]
//! See sqlmux_protocol::fuzz_targets::pg_frame.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sqlmux_protocol::fuzz_targets::pg_frame(data));
