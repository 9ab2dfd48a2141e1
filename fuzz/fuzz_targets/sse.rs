//! libFuzzer target: see [`parity_fuzz::sse`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parity_fuzz::sse(data));
