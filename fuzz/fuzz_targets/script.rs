//! libFuzzer target: see [`parity_fuzz::script`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parity_fuzz::script(data));
