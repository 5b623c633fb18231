//! `cargo +nightly fuzz run torchscript_code`: the nesting check of printed TorchScript code
//! accepts or refuses any bytes without panicking.
#![no_main]

use fastpyfunc::engine::torchscript::check_code;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = check_code(data);
});
