//! Optional step of every Python build: the TorchScript engine library.
//!
//! The engine (`engines/torchscript`) links libtorch, so it is a shared library of its own that
//! the extension opens at first use. maturin packs one crate's artifact, so this script builds
//! the engine with a nested cargo (its own target directory, so the two builds never wait on each
//! other's lock) and stages it in `target/wheel-data/platlib/fastpyfunc/`, the wheel's `.data`
//! directory (`[tool.maturin] data`), which installers put into site-packages next to the package.
//! The staging directory is emptied at every run of this script, so a wheel only ever carries an
//! engine this build made; nothing is written into `python/` (the package source).
//!
//! When the engine is built (only for the Python binding, i.e. maturin builds):
//!
//! ```text
//! pip install --no-build-isolation .            # torch 2.13 installed in this Python: built
//! FASTPYFUNC_TORCH=/path/to/site-packages/torch # this torch install (fails if it is not one)
//! FASTPYFUNC_TORCH=auto                          # torch of the build's Python, required
//! FASTPYFUNC_TORCH=off                           # never
//! ```
//!
//! Unset, the engine is built when the build's Python has torch 2.13, and skipped (with a
//! note) otherwise; TorchScript models then run through Python `torch.jit` with a warning.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const ENGINE: &str = "libfastpyfunc_torch.so";
/// The torch minor release tch 0.26 (the engine's binding) is built for.
const TORCH_SERIES: &str = "2.13.";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=FASTPYFUNC_TORCH");
    if env::var_os("CARGO_FEATURE_PYTHON").is_none() {
        return; // `cargo test` / the pure core: no Python, no wheel
    }
    for var in ["PYO3_PYTHON", "PYTHON_SYS_EXECUTABLE", "VIRTUAL_ENV"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let root =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let staging = root.join("target").join("wheel-data");
    let dest = staging.join("platlib").join("fastpyfunc");
    // Whatever a previous build staged goes first: this build's wheel gets this build's engine.
    let _ = std::fs::remove_dir_all(&staging);
    if let Err(e) = std::fs::create_dir_all(&dest) {
        fail(&format!("cannot create {}: {e}", dest.display()));
    }
    // Deleting the staging directory makes cargo run this script again (maturin needs it).
    println!("cargo:rerun-if-changed={}", staging.display());
    let mut setting = env::var("FASTPYFUNC_TORCH").unwrap_or_default();
    if setting.is_empty() && !root.join("engines/torchscript/Cargo.toml").is_file() {
        // maturin's sdist carries the extension's crate only, not the engine's.
        println!(
            "cargo:warning=fastpyfunc: not building the native TorchScript engine: this source tree \
             (an sdist?) has no engines/torchscript; build from a clone to get it"
        );
        setting = "off".into();
    }
    if let Some(torch_dir) = wanted_torch(&setting) {
        println!(
            "cargo:rerun-if-changed={}",
            torch_dir.join("version.py").display()
        );
        match build_engine(&root, &torch_dir) {
            Ok(built) => {
                if let Err(e) = copy(&built, &dest.join(ENGINE)) {
                    fail(&e);
                }
            }
            // A wanted engine that cannot be built fails the build: a wheel silently without it
            // would only show up as a warning at the first predict.
            Err(e) => fail(&format!("FASTPYFUNC_TORCH={setting}: {e}")),
        }
    }
    // cargo reruns this script when a watched path is newer than the script's last run; what
    // the script itself wrote gets build.rs's own (older) mtime, so only a deletion counts.
    if let Err(e) = stamp_tree(&staging, &root.join("build.rs")) {
        fail(&format!("cannot stamp {}: {e}", staging.display()));
    }
}

/// The torch install to build the engine against, from `FASTPYFUNC_TORCH` (see the top).
fn wanted_torch(setting: &str) -> Option<PathBuf> {
    match setting {
        "0" | "off" | "no" | "false" => None,
        "" => match find_torch() {
            Ok(Some(dir)) if torch_version(&dir).starts_with(TORCH_SERIES) => Some(dir),
            Ok(Some(dir)) => {
                println!(
                    "cargo:warning=fastpyfunc: not building the native TorchScript engine: torch {} at {} \
                     is not {TORCH_SERIES}x",
                    torch_version(&dir),
                    dir.display()
                );
                None
            }
            _ => {
                println!(
                    "cargo:warning=fastpyfunc: not building the native TorchScript engine: the build's \
                     Python has no torch (install torch 2.13 and build with --no-build-isolation to get it)"
                );
                None
            }
        },
        "auto" => match find_torch() {
            Ok(Some(dir)) => Some(dir),
            Ok(None) => fail(
                "FASTPYFUNC_TORCH=auto: the build's Python cannot find the torch package (pip builds in \
                 an isolated environment: install torch 2.13 and pass --no-build-isolation, or set \
                 FASTPYFUNC_TORCH to torch's directory)",
            ),
            Err(e) => fail(&format!("FASTPYFUNC_TORCH=auto: {e}")),
        },
        path => Some(PathBuf::from(path)),
    }
}

fn stamp_tree(path: &Path, like: &Path) -> std::io::Result<()> {
    let stamp = std::fs::metadata(like)?.modified()?;
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            stamp_tree(&entry?.path(), like)?;
        }
    }
    std::fs::File::open(path)?.set_modified(stamp)
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}

/// `torch.__version__` from `torch/version.py`, without importing torch ("" if unreadable).
fn torch_version(torch_dir: &Path) -> String {
    let text = std::fs::read_to_string(torch_dir.join("version.py")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("__version__"))
        .and_then(|rest| rest.split(['\'', '"']).nth(1))
        .unwrap_or_default()
        .to_string()
}

fn build_engine(root: &Path, torch_dir: &Path) -> Result<PathBuf, String> {
    for path in [
        "engines/torchscript/src",
        "engines/torchscript/Cargo.toml",
        "src/engine/torchscript/abi.rs",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    if !torch_dir.join("lib").is_dir() || !torch_dir.join("include").is_dir() {
        return Err(format!(
            "{} is not a torch install (it needs lib/ and include/, as the torch 2.13 wheel has)",
            torch_dir.display()
        ));
    }
    let target_dir = root.join("target").join("torch-engine");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--release",
            "-p",
            "fastpyfunc-torch",
            "--target-dir",
        ])
        .arg(&target_dir)
        .env("LIBTORCH", torch_dir)
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
    Ok(target_dir.join("release").join(ENGINE))
}

/// torch's package directory, as the Python that runs this build sees it (maturin names that
/// interpreter in `PYO3_PYTHON`), without importing torch.
fn find_torch() -> Result<Option<PathBuf>, String> {
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
    if !out.status.success() {
        return Err(format!(
            "{} failed to look for torch",
            python.to_string_lossy()
        ));
    }
    Ok((!dir.is_empty()).then(|| PathBuf::from(dir)))
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    // Replace rather than overwrite in place: a running process may have the old file mapped.
    let tmp = to.with_extension("so.tmp");
    std::fs::copy(from, &tmp)
        .and_then(|_| std::fs::rename(&tmp, to))
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), to.display()))
}
