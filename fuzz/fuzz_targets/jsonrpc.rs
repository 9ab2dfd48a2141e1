//! libFuzzer target: see [`parity_fuzz::jsonrpc`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parity_fuzz::jsonrpc(data));
