//! Reading YAML files (MLmodel, model_config) with hard resource limits, so a hostile file
//! fails fast with a clear error instead of exhausting memory or the stack.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};

/// Largest YAML file accepted. Real MLmodel files are a few KiB; a 600-column signature is ~40 KiB.
pub const MAX_YAML_BYTES: u64 = 16 * 1024 * 1024;
/// Deepest nesting accepted (MLflow writes at most ~6 levels; Object/Array signatures live in
/// JSON strings, not in the YAML tree).
pub const MAX_YAML_DEPTH: usize = 64;
/// Alias (`*ref`) events accepted: MLflow's `yaml.safe_dump` never writes aliases.
pub const MAX_YAML_ALIASES: usize = 1_000;

/// Reads `path` (at most [`MAX_YAML_BYTES`]) as UTF-8 text.
pub fn read_text(path: &Path) -> Result<String> {
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_YAML_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > MAX_YAML_BYTES {
        return Err(malformed(
            path,
            format!("file is larger than the {MAX_YAML_BYTES}-byte limit"),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        malformed(
            path,
            format!(
                "file is not UTF-8 (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// Parses YAML text into a JSON-like tree under the resource limits above.
pub fn parse(path: &Path, text: &str) -> Result<Value> {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_YAML_DEPTH;
    budget.flow_nesting_limit = MAX_YAML_DEPTH;
    budget.max_aliases = MAX_YAML_ALIASES;
    budget.max_documents = 1;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.duplicate_keys = serde_saphyr::options::DuplicateKeyPolicy::Error;
    options.alias_limits.max_total_replayed_events = 100_000;
    // PyYAML (which writes MLmodel) reads `y`/`n` as strings and writes them unquoted.
    options.strict_booleans = true;
    // The message's first line is all an exception carries: rendering the source snippet under
    // it (annotate-snippets) cost a quarter of the time spent on a malformed file.
    options.with_snippet = false;

    if text.trim().is_empty() {
        return Err(malformed(path, "file is empty".to_string()));
    }
    serde_saphyr::from_str_with_options::<Value>(text, options)
        .map_err(|e| malformed(path, first_line(&e.to_string())))
}

/// Reads and parses a YAML file.
pub fn load(path: &Path) -> Result<Value> {
    let text = read_text(path)?;
    parse(path, &text)
}

fn malformed(path: &Path, reason: String) -> Error {
    Error::MalformedMlModel {
        path: path.to_path_buf(),
        key: None,
        reason,
    }
}

/// serde-saphyr renders a source snippet under the message; one line is enough for an exception.
fn first_line(msg: &str) -> String {
    msg.lines().next().unwrap_or(msg).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("/m/MLmodel")
    }

    #[test]
    fn parses_plain_mapping() {
        let v = parse(p(), "a: 1\nb: [x, y]\n").unwrap();
        assert_eq!(v["a"], 1);
        assert_eq!(v["b"][1], "y", "PyYAML reads y as a string");
    }

    #[test]
    fn rejects_empty() {
        let e = parse(p(), "  \n").unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
    }

    #[test]
    fn rejects_deep_nesting() {
        let text = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
        let e = parse(p(), &text).unwrap_err();
        assert!(matches!(e, Error::MalformedMlModel { .. }), "{e}");
        let text: String = (0..20_000)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect();
        assert!(parse(p(), &text).is_err());
    }

    #[test]
    fn rejects_alias_bomb() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..20 {
            let prev = if i == 0 {
                "a".to_string()
            } else {
                format!("l{}", i - 1)
            };
            text.push_str(&format!(
                "l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        let e = parse(p(), &text).unwrap_err();
        assert!(matches!(e, Error::MalformedMlModel { .. }), "{e}");
    }

    #[test]
    fn rejects_duplicate_keys() {
        let e = parse(p(), "a: 1\na: 2\n").unwrap_err().to_string();
        // One line that names the file, the key and where it is (no rendered snippet).
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains("/m/MLmodel") && e.contains("line 2"), "{e}");
    }
}
