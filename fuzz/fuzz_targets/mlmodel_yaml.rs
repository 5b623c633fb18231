//! `cargo +nightly fuzz run mlmodel_yaml`: any MLmodel text parses to a model, a load plan or a
//! typed error; never a panic.
#![no_main]

use std::path::{Path, PathBuf};

use fastpyfunc::mlmodel::{yaml, LoadedMlModel};
use fastpyfunc::plan::LoadPlan;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("/nonexistent/fuzz/MLmodel");
    if let Ok(raw) = yaml::parse(file, text) {
        if let Ok(m) = LoadedMlModel::from_value(PathBuf::from("/nonexistent/fuzz"), file, raw) {
            let _ = LoadPlan::new(&m);
        }
    }
});
