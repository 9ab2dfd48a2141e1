//! libFuzzer target: see [`parity_fuzz::config`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parity_fuzz::config(data));
