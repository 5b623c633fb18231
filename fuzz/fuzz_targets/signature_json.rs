//! `cargo +nightly fuzz run signature_json`: any signature JSON becomes a schema and an
//! enforcement plan, or an error; never a panic.
#![no_main]

use fastpyfunc::schema::enforce::Plan;
use fastpyfunc::schema::Schema;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(schema) = Schema::from_json(&v) {
        let _ = schema.to_json();
        let _ = Plan::compile(&schema);
    }
});
