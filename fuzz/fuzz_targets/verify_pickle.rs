//! `cargo +nightly fuzz run verify_pickle`: the verifier must never panic, hang or overflow its
//! stack on any input, compressed or not, a Safe verdict must only name allow-listed globals (or,
//! in a joblib file, joblib's array wrapper), and the report must be the tracking machine's
//! whether or not the untracked reading made it.
#![no_main]

use fastpyfunc::safety::{
    is_allowed, verify_bytes, verify_bytes_tracked, verify_data, Limits, Verdict, JOBLIB_WRAPPER,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let report = verify_data(data);
    if report.verdict() == Verdict::Safe {
        assert!(report.globals.iter().all(|g| is_allowed(&g.module, &g.name)
            || (g.module.as_str(), g.name.as_str()) == JOBLIB_WRAPPER));
        assert!(report.code_objects.is_empty());
    }
    let limits = Limits::default();
    assert_eq!(verify_bytes(data, &limits), verify_bytes_tracked(data, &limits));
    // (every part of the report, as the binding reads it)
    let _ = format!("{report:?}");
});
