#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dns01_fuzz::targets::payload_handler(data));
