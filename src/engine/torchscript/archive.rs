//! Which kind of PyTorch file a model holds, read from its zip directory alone (no torch, nothing
//! unpickled). mlflow writes a scripted module and a pickled `nn.Module` to the same
//! `data/model.pth` with identical MLmodel files; only the archive tells them apart.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Archive {
    /// `ScriptModule.save`: `<top>/constants.pkl` and `<top>/code/...`. libtorch loads it.
    TorchScript,
    /// `torch.save` of a module: a pickle (`<top>/data.pkl`) that only Python can rebuild.
    TorchSave,
    /// `torch.export`'s `.pt2` (`<top>/archive_format`): libtorch's jit loader cannot read it.
    Pt2,
    /// Not a zip, or none of the above (a legacy pickle file, say).
    Other,
}

/// Reads the zip directory of `path`. A file that cannot be opened is an error; one that is not
/// a zip is [`Archive::Other`].
pub fn archive_kind(path: &Path) -> std::io::Result<Archive> {
    Ok(archive_kind_of(File::open(path)?))
}

/// [`archive_kind`] of an archive read from memory (or any seekable reader): what the fuzz
/// target calls, with no file per input.
pub fn archive_kind_of<R: Read + Seek>(reader: R) -> Archive {
    let Ok(zip) = zip::ZipArchive::new(reader) else {
        return Archive::Other;
    };
    let (mut constants, mut code, mut data, mut pt2) = (false, false, false, false);
    for name in zip.file_names() {
        // Entries sit under one top-level folder named after the archive.
        let Some((_, rest)) = name.split_once('/') else {
            continue;
        };
        constants |= rest == "constants.pkl";
        code |= rest.starts_with("code/");
        data |= rest == "data.pkl";
        pt2 |= rest == "archive_format";
    }
    if constants && code {
        Archive::TorchScript
    } else if pt2 {
        Archive::Pt2
    } else if data {
        Archive::TorchSave
    } else {
        Archive::Other
    }
}

/// A compressed entry may declare (and inflate to) at most this much: libtorch allocates an
/// entry's declared size before inflating it, and torch itself writes entries uncompressed.
pub const MAX_INFLATED_ENTRY: u64 = 256 << 20;
/// At most this many entries (a model's archive has a few per tensor).
pub const MAX_ENTRIES: usize = 1 << 20;
/// A printed code file (`<top>/code/....py`) larger than this is refused.
pub const MAX_CODE_FILE: u64 = 16 << 20;
/// Bounds on the printed code, well below what crashes libtorch's recursive parser with an 8 MiB
/// stack (measured with torch 2.13: 5,000 nested `[`, 10,000 `(`, `**` or nested blocks, 50,000
/// unary operators or `not`, 50,000 chained `x if c else`) and far above what `torch.jit.script`
/// prints for real models.
pub const MAX_NESTING: usize = 100;
pub const MAX_CHAIN: usize = 200;
pub const MAX_INDENT: usize = 400;

/// Why an archive is refused: the entry at fault and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveError {
    pub entry: String,
    pub reason: String,
}

/// Checks a TorchScript archive before libtorch reads it: every entry's declared size is
/// bounded (a stored entry must fit in the file; a compressed one is inflated, into nothing,
/// through a bound, so a bomb costs at most [`MAX_INFLATED_ENTRY`] of CPU and no memory), and
/// every printed code file is small and shallow enough for libtorch's parser.
pub fn check_archive(path: &Path) -> Result<(), ArchiveError> {
    let file = File::open(path).map_err(|e| whole(e.to_string()))?;
    check_archive_of(file)
}

fn whole(reason: String) -> ArchiveError {
    ArchiveError {
        entry: String::new(),
        reason,
    }
}

/// [`check_archive`] of an archive read from memory (or any seekable reader).
pub fn check_archive_of<R: Read + Seek>(mut reader: R) -> Result<(), ArchiveError> {
    let file_len = reader
        .seek(SeekFrom::End(0))
        .map_err(|e| whole(e.to_string()))?;
    let mut zip =
        zip::ZipArchive::new(reader).map_err(|e| whole(format!("not a readable zip: {e}")))?;
    if zip.len() > MAX_ENTRIES {
        return Err(whole(format!(
            "{} entries, more than {MAX_ENTRIES}",
            zip.len()
        )));
    }
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| whole(format!("entry {i}: {e}")))?;
        let name = entry.name().to_owned();
        let fail = |reason: String| ArchiveError {
            entry: name.clone(),
            reason,
        };
        let declared = entry.size();
        let stored = entry.compression() == zip::CompressionMethod::Stored;
        if stored {
            let end = entry
                .data_start()
                .unwrap_or(u64::MAX)
                .saturating_add(declared);
            if declared != entry.compressed_size() || end > file_len {
                return Err(fail(format!(
                    "declares {declared} bytes that the file does not hold"
                )));
            }
        } else if declared > MAX_INFLATED_ENTRY {
            return Err(fail(format!(
                "is compressed and declares {declared} bytes, more than the limit of {MAX_INFLATED_ENTRY}"
            )));
        }
        let is_code = name
            .split_once('/')
            .is_some_and(|(_, rest)| rest.starts_with("code/"))
            && name.ends_with(".py");
        if is_code {
            if declared > MAX_CODE_FILE {
                return Err(fail(format!(
                    "is a code file of {declared} bytes, more than the limit of {MAX_CODE_FILE}"
                )));
            }
            let mut code = Vec::new();
            let n = (&mut entry)
                .take(declared + 1)
                .read_to_end(&mut code)
                .map_err(|e| fail(e.to_string()))?;
            if n as u64 > declared {
                return Err(fail(format!("inflates past its declared {declared} bytes")));
            }
            check_code(&code).map_err(fail)?;
        } else if !stored {
            let n = std::io::copy(&mut (&mut entry).take(declared + 1), &mut std::io::sink())
                .map_err(|e| fail(e.to_string()))?;
            if n > declared {
                return Err(fail(format!("inflates past its declared {declared} bytes")));
            }
        }
    }
    Ok(())
}

/// Nesting of printed TorchScript code, outside strings and comments: bracket depth,
/// indentation, and per line the chains libtorch's parser recurses on (`**`, conditional
/// expressions, runs of unary operators).
pub fn check_code(code: &[u8]) -> Result<(), String> {
    let (mut depth, mut line, mut line_start) = (0usize, 1usize, true);
    let (mut chain, mut unary, mut indent) = (0usize, 0usize, 0usize);
    // Whether the last token ends an operand: a `-` after one is binary, otherwise unary.
    let mut after_operand = false;
    let mut i = 0;
    while i < code.len() {
        let c = code[i];
        if line_start {
            if c == b' ' || c == b'\t' {
                indent += 1;
                i += 1;
                continue;
            }
            if indent > MAX_INDENT && c != b'\n' && c != b'#' {
                return Err(format!(
                    "line {line} is indented {indent} columns, more than {MAX_INDENT}"
                ));
            }
            line_start = false;
        }
        match c {
            b'\n' => {
                line += 1;
                line_start = true;
                indent = 0;
                if depth == 0 {
                    chain = 0;
                }
                unary = 0;
                after_operand = false;
            }
            b'#' => {
                while i + 1 < code.len() && code[i + 1] != b'\n' {
                    i += 1;
                }
            }
            b'"' | b'\'' => {
                // Skip the literal (triple-quoted or not), honouring backslash escapes.
                let triple = code.get(i..i + 3) == Some(&[c, c, c][..]);
                let quote: &[u8] = if triple {
                    &code[i..i + 3]
                } else {
                    &code[i..=i]
                };
                i += quote.len();
                while i < code.len() && !code[i..].starts_with(quote) {
                    if code[i] == b'\\' {
                        i += 1;
                    } else if code[i] == b'\n' {
                        line += 1;
                    }
                    i += 1;
                }
                i += quote.len() - 1;
                after_operand = true;
                unary = 0;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(format!(
                        "brackets nest more than {MAX_NESTING} deep at line {line}"
                    ));
                }
                after_operand = false;
                unary = 0;
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                after_operand = true;
            }
            b'-' | b'+' | b'~' if !after_operand => {
                unary += 1;
                if unary > MAX_CHAIN {
                    return Err(format!(
                        "more than {MAX_CHAIN} unary operators in a row at line {line}"
                    ));
                }
            }
            b'*' if code.get(i + 1) == Some(&b'*') => {
                i += 1;
                chain += 1;
                after_operand = false;
                unary = 0;
            }
            c if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' => {
                let start = i;
                while i + 1 < code.len()
                    && (code[i + 1].is_ascii_alphanumeric() || matches!(code[i + 1], b'_' | b'.'))
                {
                    i += 1;
                }
                match &code[start..=i] {
                    b"not" => {
                        unary += 1;
                        if unary > MAX_CHAIN {
                            return Err(format!(
                                "more than {MAX_CHAIN} unary operators in a row at line {line}"
                            ));
                        }
                        after_operand = false;
                    }
                    b"if" | b"else" | b"and" | b"or" | b"in" | b"is" | b"return" | b"lambda" => {
                        chain += usize::from(&code[start..=i] == b"if");
                        after_operand = false;
                        unary = 0;
                    }
                    _ => {
                        after_operand = true;
                        unary = 0;
                    }
                }
            }
            b' ' | b'\t' | b'\r' | b'\\' => {}
            _ => {
                after_operand = false;
                unary = 0;
            }
        }
        if chain > MAX_CHAIN {
            return Err(format!(
                "more than {MAX_CHAIN} chained `**` or conditional expressions in one statement at line {line}"
            ));
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_with(names: &[&str]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!(
            "fastpyfunc-archive-{}-{}.zip",
            std::process::id(),
            names.join("_").replace('/', "-")
        ));
        let mut w = zip::ZipWriter::new(File::create(&path).unwrap());
        for n in names {
            w.start_file(
                *n,
                zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Stored),
            )
            .unwrap();
            w.write_all(b"x").unwrap();
        }
        w.finish().unwrap();
        path
    }

    #[test]
    fn kinds_from_entries() {
        let ts = zip_with(&[
            "m/data.pkl",
            "m/constants.pkl",
            "m/code/__torch__/M.py",
            "m/version",
        ]);
        assert_eq!(archive_kind(&ts).unwrap(), Archive::TorchScript);
        let pickled = zip_with(&["model/data.pkl", "model/.format_version", "model/data/0"]);
        assert_eq!(archive_kind(&pickled).unwrap(), Archive::TorchSave);
        let pt2 = zip_with(&["model/archive_format", "model/models/model.json"]);
        assert_eq!(archive_kind(&pt2).unwrap(), Archive::Pt2);
        let not_zip = std::env::temp_dir().join("fastpyfunc-archive-notzip");
        std::fs::write(&not_zip, b"\x80\x02garbage").unwrap();
        assert_eq!(archive_kind(&not_zip).unwrap(), Archive::Other);
        assert!(archive_kind(Path::new("/nonexistent/model.pth")).is_err());
    }

    fn write_zip(
        tag: &str,
        entries: &[(&str, &[u8], zip::CompressionMethod)],
    ) -> std::path::PathBuf {
        let path =
            std::env::temp_dir().join(format!("fastpyfunc-check-{}-{tag}.zip", std::process::id()));
        let mut w = zip::ZipWriter::new(File::create(&path).unwrap());
        for (n, data, method) in entries {
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(*method)
                .large_file(data.len() > u32::MAX as usize);
            w.start_file(*n, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap();
        path
    }

    #[test]
    fn archives_are_bounded_before_inflating() {
        use zip::CompressionMethod::{Deflated, Stored};
        let code = b"class M(Module):\n  def forward(self: __torch__.M, x: Tensor) -> Tensor:\n    return torch.add(x, [[1]][0][0])\n";
        let ok = write_zip(
            "ok",
            &[
                ("m/code/__torch__/M.py", code, Deflated),
                ("m/data/0", &[0u8; 64], Stored),
            ],
        );
        assert_eq!(check_archive(&ok), Ok(()));
        // A 1 MiB entry of zeros deflates to about 1 KiB; its declared size is rewritten in the
        // local header and the central directory.
        let with_declared = |tag: &str, size: u32| {
            let path = write_zip(tag, &[("m/data/0", &vec![0u8; 1 << 20], Deflated)]);
            let mut bytes = std::fs::read(&path).unwrap();
            let mut patched = 0;
            for i in 0..bytes.len() - 4 {
                if bytes[i..i + 4] == (1u32 << 20).to_le_bytes() {
                    bytes[i..i + 4].copy_from_slice(&size.to_le_bytes());
                    patched += 1;
                }
            }
            assert_eq!(patched, 2, "local header and central directory");
            std::fs::write(&path, &bytes).unwrap();
            path
        };
        // Declares 2 GiB: refused from the directory alone, nothing inflated.
        let bomb = with_declared("bomb", 2 << 30);
        let err = check_archive(&bomb).unwrap_err();
        assert_eq!(err.entry, "m/data/0");
        assert!(err.reason.contains("declares"), "{err:?}");
        // Declares 100 bytes and inflates to 1 MiB: refused after 101 bytes.
        let liar = with_declared("liar", 100);
        let err = check_archive(&liar).unwrap_err();
        assert_eq!(err.entry, "m/data/0");
        let _ = [bomb, liar].map(std::fs::remove_file);
        let not_zip = std::env::temp_dir().join("fastpyfunc-check-notzip");
        std::fs::write(&not_zip, b"junk").unwrap();
        assert!(check_archive(&not_zip).unwrap_err().entry.is_empty());
        let _ = [ok, not_zip].map(std::fs::remove_file);
    }

    #[test]
    fn memory_and_file_readers_agree() {
        use zip::CompressionMethod::Deflated;
        let deep = format!(
            "x = {}1{}\n",
            "[".repeat(MAX_NESTING + 1),
            "]".repeat(MAX_NESTING + 1)
        );
        let archives = [
            zip_with(&["m/data.pkl", "m/constants.pkl", "m/code/__torch__/M.py"]),
            zip_with(&["model/archive_format"]),
            write_zip(
                "deep",
                &[("m/code/__torch__/M.py", deep.as_bytes(), Deflated)],
            ),
        ];
        for path in &archives {
            let bytes = std::fs::read(path).unwrap();
            let memory = std::io::Cursor::new(&bytes[..]);
            assert_eq!(archive_kind(path).unwrap(), archive_kind_of(memory.clone()));
            assert_eq!(check_archive(path), check_archive_of(memory));
        }
        assert!(check_archive(&archives[2])
            .unwrap_err()
            .reason
            .contains("nest"));
        let _ = archives.map(std::fs::remove_file);
    }

    #[test]
    fn code_nesting_is_bounded() {
        let nest = |open: &str, close: &str, n: usize| {
            format!("x = {}1{}\n", open.repeat(n), close.repeat(n))
        };
        assert!(check_code(nest("[", "]", MAX_NESTING).as_bytes()).is_ok());
        assert!(check_code(nest("[", "]", MAX_NESTING + 1).as_bytes()).is_err());
        assert!(check_code(nest("(", ")", 10_000).as_bytes()).is_err());
        // Brackets inside strings and comments do not count.
        let quoted = format!("x = \"{}\"  # {}\n", "[".repeat(1000), "(".repeat(1000));
        assert!(check_code(quoted.as_bytes()).is_ok());
        let unary = format!("x = {}1\n", "-".repeat(MAX_CHAIN + 1));
        assert!(check_code(unary.as_bytes()).is_err());
        let nots = format!("x = {}True\n", "not ".repeat(MAX_CHAIN + 1));
        assert!(check_code(nots.as_bytes()).is_err());
        let pow = format!("x = {}\n", vec!["2"; MAX_CHAIN + 2].join("**"));
        assert!(check_code(pow.as_bytes()).is_err());
        let ternary = format!("x = {}\n", vec!["1"; MAX_CHAIN + 2].join(" if c else "));
        assert!(check_code(ternary.as_bytes()).is_err());
        let deep = format!("{}x = 1\n", " ".repeat(MAX_INDENT + 1));
        assert!(check_code(deep.as_bytes()).is_err());
        // Binary minus chains are loops in the parser, not recursion.
        let minus = format!("x = {}\n", vec!["a"; 5000].join(" - "));
        assert!(check_code(minus.as_bytes()).is_ok());
        assert!(check_code(b"y = -x - -1e-5 + (-(a))\n").is_ok());
    }
}
