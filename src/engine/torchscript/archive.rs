//! Which kind of PyTorch file a model holds, read from its zip directory alone (no torch, nothing
//! unpickled). mlflow writes a scripted module and a pickled `nn.Module` to the same
//! `data/model.pth` with identical MLmodel files; only the archive tells them apart.

use std::fs::File;
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
    let file = File::open(path)?;
    let Ok(zip) = zip::ZipArchive::new(file) else {
        return Ok(Archive::Other);
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
    Ok(if constants && code {
        Archive::TorchScript
    } else if pt2 {
        Archive::Pt2
    } else if data {
        Archive::TorchSave
    } else {
        Archive::Other
    })
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
}
