//! libFuzzer target: see [`parity_fuzz::diff_files`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| parity_fuzz::diff_files(data));
