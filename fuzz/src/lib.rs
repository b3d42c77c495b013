//! What every fuzz target does: parse the bytes as one format, through the
//! registry as quarry does.
//!
//! A crash is a finding: an uncaught panic, an abort, a stack overflow, a
//! hang or running out of memory. A panic the parser catches (it becomes a
//! per-document error) is reported once per place on stderr, and is a
//! finding only with `QUARRY_FUZZ_STRICT=1` (libFuzzer's own rule: any
//! panic aborts), since third-party parsers hold many such unwraps and each
//! costs a backtrace, not the process.

use std::collections::HashSet;
use std::sync::{Mutex, Once};

pub fn parse(extension: &str, data: &[u8]) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        if std::env::var_os("QUARRY_FUZZ_STRICT").is_some() {
            return; // libfuzzer-sys' hook: every panic aborts
        }
        let seen: Mutex<HashSet<String>> = Mutex::new(HashSet::new());
        std::panic::set_hook(Box::new(move |info| {
            let at = info
                .location()
                .map_or_else(|| "?".to_owned(), |l| format!("{}:{}", l.file(), l.line()));
            if seen.lock().is_ok_and(|mut s| s.insert(at.clone())) {
                let message = quarry_formats::panic_message(info.payload()).unwrap_or_default();
                eprintln!("fuzz: caught panic at {at}: {message}");
            }
        }));
    });
    let name = format!("input.{extension}");
    let _ = quarry_formats::Registry::default().parse(&quarry_formats::Input::new(&name, data));
}
