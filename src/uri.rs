//! Model URIs: what can be used in place (local paths, `file:`) and what must be downloaded
//! (every other scheme, handed to mlflow's artifact repositories by the Python layer).

use std::path::PathBuf;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelUri {
    /// A directory on this machine, used in place.
    Local(PathBuf),
    /// `runs:/`, `models:/`, `s3://`, ...: needs mlflow to download.
    Remote { scheme: String },
}

/// Classifies a model URI the way mlflow's `_download_artifact_from_uri` does: a string that
/// exists as a local path is local, whatever it looks like; `file:` URIs are local; anything else
/// with a scheme is remote.
pub fn classify(uri: &str) -> Result<ModelUri> {
    if uri.is_empty() {
        return Err(Error::InvalidUri {
            uri: uri.into(),
            reason: "the model URI is empty".into(),
        });
    }
    if std::path::Path::new(uri).exists() {
        return Ok(ModelUri::Local(PathBuf::from(uri)));
    }
    if let Some(rest) = uri.strip_prefix("file:") {
        // file:///abs, file://localhost/abs, file:/abs, file:rel
        let path = match rest.strip_prefix("//") {
            Some(after) => {
                let slash = after.find('/').unwrap_or(after.len());
                let host = &after[..slash];
                if !host.is_empty() && host != "localhost" {
                    return Err(Error::InvalidUri {
                        uri: uri.into(),
                        reason: format!("file URIs on another host ('{host}') are not supported"),
                    });
                }
                &after[slash..]
            }
            None => rest,
        };
        let path = path.split(['?', '#']).next().unwrap_or(path);
        return Ok(ModelUri::Local(PathBuf::from(percent_decode(path))));
    }
    if let Some(scheme) = scheme_of(uri) {
        return Ok(ModelUri::Remote {
            scheme: scheme.to_ascii_lowercase(),
        });
    }
    if is_logged_model_id(uri) {
        return Err(Error::InvalidUri {
            uri: uri.into(),
            reason: format!("no such local path. Maybe you meant 'models:/{uri}'?"),
        });
    }
    Ok(ModelUri::Local(PathBuf::from(uri)))
}

/// RFC 3986 scheme, at least two characters so `C:\model` stays a path.
fn scheme_of(uri: &str) -> Option<&str> {
    let colon = uri.find(':')?;
    let scheme = &uri[..colon];
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (scheme.len() >= 2
        && first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

fn is_logged_model_id(s: &str) -> bool {
    s.strip_prefix("m-")
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_uris_are_local() {
        assert_eq!(
            classify("file:///tmp/nope/m").unwrap(),
            ModelUri::Local("/tmp/nope/m".into())
        );
        assert_eq!(
            classify("file://localhost/a%20b").unwrap(),
            ModelUri::Local("/a b".into())
        );
        assert_eq!(
            classify("file:rel/m").unwrap(),
            ModelUri::Local("rel/m".into())
        );
        assert!(classify("file://otherhost/x").is_err());
    }

    #[test]
    fn schemes_are_remote() {
        for (uri, scheme) in [
            ("runs:/abc/model", "runs"),
            ("models:/name/1", "models"),
            ("models:/name@champion", "models"),
            ("models:/m-0123456789abcdef0123456789abcdef", "models"),
            ("S3://bucket/key", "s3"),
            ("mlflow-artifacts:/x", "mlflow-artifacts"),
            ("https://host/x", "https"),
        ] {
            assert_eq!(
                classify(uri).unwrap(),
                ModelUri::Remote {
                    scheme: scheme.into()
                }
            );
        }
    }

    #[test]
    fn plain_paths_are_local() {
        assert_eq!(
            classify("some/dir").unwrap(),
            ModelUri::Local("some/dir".into())
        );
        assert_eq!(classify("C:\\m").unwrap(), ModelUri::Local("C:\\m".into()));
    }

    #[test]
    fn bare_model_id_hints_models_uri() {
        let e = classify("m-0123456789abcdef0123456789abcdef").unwrap_err();
        assert!(e.to_string().contains("models:/m-"), "{e}");
    }

    #[test]
    fn empty_is_an_error() {
        assert!(classify("").is_err());
    }
}
