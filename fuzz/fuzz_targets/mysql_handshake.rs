#![no_main]
//! See sqlmux_protocol::fuzz_targets::mysql_handshake.

libfuzzer_sys::fuzz_target!(|data: &[u8]| sqlmux_protocol::fuzz_targets::mysql_handshake(data));
