//! Optional step of every build: the TorchScript engine library.
//!
//! The engine (`engines/torchscript`) links libtorch, so it is a shared library of its own that
//! the extension opens at first use. maturin packs one crate's artifact, so when
//! `FASTPYFUNC_TORCH` is set this script builds the engine with a nested cargo (its own target
//! directory, so the two builds never wait on each other's lock) and leaves it in
//! `python/fastpyfunc/`, where `[tool.maturin] include` puts it into the wheel:
//!
//! ```text
//! FASTPYFUNC_TORCH=auto pip install --no-build-isolation .      # torch from the build's Python
//! FASTPYFUNC_TORCH=/path/to/site-packages/torch pip install .   # an explicit torch 2.13 install
//! ```
//!
//! Unset (the default, and `cargo test`), nothing happens and the engine is simply absent: models
//! then run through Python `torch.jit` with a warning.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const ENGINE: &str = "libfastpyfunc_torch.so";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=FASTPYFUNC_TORCH");
    let Some(torch) = env::var_os("FASTPYFUNC_TORCH").filter(|v| !v.is_empty()) else {
        return;
    };
    if let Err(e) = build_engine(&torch.to_string_lossy()) {
        // A requested engine that cannot be built fails the build: a wheel silently without it
        // would only show up as a warning at the first predict.
        eprintln!("error: FASTPYFUNC_TORCH={}: {e}", torch.to_string_lossy());
        std::process::exit(1);
    }
}

fn build_engine(torch: &str) -> Result<(), String> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?);
    for path in [
        "engines/torchscript/src",
        "engines/torchscript/Cargo.toml",
        "src/engine/torchscript/abi.rs",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    let torch_dir = if torch == "auto" {
        find_torch()?
    } else {
        PathBuf::from(torch)
    };
    if !torch_dir.join("lib").is_dir() || !torch_dir.join("include").is_dir() {
        return Err(format!(
            "{} is not a torch install (it needs lib/ and include/, as the torch 2.13 wheel has)",
            torch_dir.display()
        ));
    }
    let target_dir = root.join("target").join("torch-engine");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "-p",
            "fastpyfunc-torch",
            "--target-dir",
        ])
        .arg(&target_dir)
        .env("LIBTORCH", &torch_dir)
        // PyPI's torch wheels are built with the C++11 ABI; tch-sys's version check compares
        // against the wheel's version string, which our loader checks itself at run time.
        .env("LIBTORCH_CXX11_ABI", "1")
        .env("LIBTORCH_BYPASS_VERSION_CHECK", "1")
        // The outer build's settings describe the extension, not the engine.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        // Our stdout is cargo's instruction channel; the nested build's chatter is not for it.
        .stdout(std::io::stderr())
        .status()
        .map_err(|e| format!("cannot run cargo to build the TorchScript engine: {e}"))?;
    if !status.success() {
        return Err(format!(
            "building the TorchScript engine (cargo build -p fastpyfunc-torch) failed: {status}"
        ));
    }
    let built = target_dir.join("release").join(ENGINE);
    let dest = root.join("python").join("fastpyfunc").join(ENGINE);
    copy(&built, &dest)?;
    // Rebuild when the copy goes missing. The copy is given build.rs's own (unchanged) mtime so
    // that cargo, which compares mtimes, watches only its existence; changes to the engine are
    // watched through its sources above, and the nested cargo decides what to rebuild.
    println!("cargo:rerun-if-changed={}", dest.display());
    let stamp = std::fs::metadata(root.join("build.rs"))
        .and_then(|m| m.modified())
        .map_err(|e| e.to_string())?;
    std::fs::File::options()
        .write(true)
        .open(&dest)
        .and_then(|f| f.set_modified(stamp))
        .map_err(|e| format!("cannot stamp {}: {e}", dest.display()))
}

/// torch's package directory, as the Python that runs this build sees it (maturin names that
/// interpreter in `PYO3_PYTHON`), without importing torch.
fn find_torch() -> Result<PathBuf, String> {
    let python = env::var_os("PYO3_PYTHON")
        .or_else(|| env::var_os("PYTHON_SYS_EXECUTABLE"))
        .unwrap_or_else(|| "python3".into());
    let out = Command::new(&python)
        .args([
            "-c",
            "import importlib.util as u; s = u.find_spec('torch'); \
             print(s.submodule_search_locations[0] if s else '')",
        ])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.to_string_lossy()))?;
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || dir.is_empty() {
        return Err(format!(
            "{} cannot find the torch package (pip builds in an isolated environment: install \
             torch==2.13.0 and pass --no-build-isolation, or set FASTPYFUNC_TORCH to torch's \
             directory)",
            python.to_string_lossy()
        ));
    }
    Ok(PathBuf::from(dir))
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    // Replace rather than overwrite in place: a running process may have the old file mapped.
    let tmp = to.with_extension("so.tmp");
    std::fs::copy(from, &tmp)
        .and_then(|_| std::fs::rename(&tmp, to))
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}
