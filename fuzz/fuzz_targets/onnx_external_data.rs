//! `cargo +nightly fuzz run onnx_external_data`: any bytes in `model.onnx` yield the external-data
//! locations or an error, never a panic or unbounded recursion.
#![no_main]

use fastpyfunc::engine::onnx::external::external_data;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = external_data(data);
});
