//! `cargo +nightly fuzz run torchscript_signature`: any printed TorchScript code (first line: the
//! class name) parses to forward's signature or an error; never a panic.
#![no_main]

use fastpyfunc::engine::torchscript::ForwardSignature;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (class, code) = text.split_once('\n').unwrap_or(("Model", text));
    let _ = ForwardSignature::parse(code, class);
});
