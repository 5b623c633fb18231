//! `cargo +nightly fuzz run torchscript_archive`: any bytes in `data/model.pth` are classified and
//! forward's signature is read from them or refused, within the size bounds; never a panic.
//! The bytes are read from memory through the same readers the file paths use (`archive_kind`,
//! `check_archive` and `ForwardSignature::read` only open the file and call these).
#![no_main]

use std::io::Cursor;

use fastpyfunc::engine::torchscript::{archive_kind_of, check_archive_of, ForwardSignature};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = archive_kind_of(Cursor::new(data));
    let _ = ForwardSignature::read_from(Cursor::new(data));
    let _ = check_archive_of(Cursor::new(data));
});
