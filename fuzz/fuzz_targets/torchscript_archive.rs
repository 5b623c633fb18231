//! `cargo +nightly fuzz run torchscript_archive`: any bytes in `data/model.pth` are classified and
//! forward's signature is read from them or refused, within the size bounds; never a panic.
#![no_main]

use fastpyfunc::engine::torchscript::{archive_kind, check_archive, ForwardSignature};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::env::temp_dir().join(format!("fastpyfunc-fuzz-{}.pth", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let _ = archive_kind(&path);
    let _ = ForwardSignature::read(&path);
    let _ = check_archive(&path);
});
