//! `cargo +nightly fuzz run savedmodel_signature`: any MetaGraphDef bytes give a signature or an
//! error; never a panic.
#![no_main]

use fastpyfunc::engine::savedmodel::read_signature;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = read_signature(data, "serving_default");
});
