#![no_main]
//! The vtt parser on arbitrary bytes (see `quarry_fuzz::parse` for what
//! counts as a finding).

libfuzzer_sys::fuzz_target!(|data: &[u8]| quarry_fuzz::parse("vtt", data));
