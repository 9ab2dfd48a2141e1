//! libFuzzer target: see [`parity_fuzz::patch`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parity_fuzz::patch(data));
