#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dns01_fuzz::registry::scope_parser(data));
