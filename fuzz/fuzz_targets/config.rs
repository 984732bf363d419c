#![no_main]
//! The config parser on arbitrary text: an error, never a panic (see sqlmux_config::fuzz_config).

libfuzzer_sys::fuzz_target!(|data: &[u8]| sqlmux_config::fuzz_config(data));
