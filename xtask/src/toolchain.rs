//! The eBPF toolchain: nightly's `rust-src` (for `-Z build-std=core`) and
//! `bpf-linker`, installed into the repository's `.tools/` so nothing
//! outside the checkout changes except the nightly toolchain's components.

use std::{
    env,
    ffi::OsString,
    fs,
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _, Result};

use crate::cmd::{probe, run};

/// The toolchain that builds the eBPF crate (aya-build's default).
pub(crate) const NIGHTLY: &str = "nightly";
/// bpf-linker versions that work with aya 0.14 and nightly's LLVM 22.
const BPF_LINKER_VERSION: &str = "^0.13";
/// The bpf-linker feature matching nightly's LLVM major version.
const BPF_LINKER_LLVM_FEATURE: &str = "llvm-22";

/// The workspace root: the parent of this crate's manifest directory.
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// `<repo>/.tools`: bpf-linker and the LLVM links it was built against.
pub(crate) fn tools_dir(root: &Path) -> PathBuf {
    root.join(".tools")
}

/// `PATH` with `<repo>/.tools/bin` first, for builds of `fwd` (its build
/// script runs the eBPF build, which needs bpf-linker).
pub(crate) fn path_with_tools(root: &Path) -> Result<OsString> {
    let mut dirs = vec![tools_dir(root).join("bin")];
    if let Some(path) = env::var_os("PATH") {
        dirs.extend(env::split_paths(&path));
    }
    env::join_paths(dirs).context("building PATH")
}

/// The cargo that runs this task (stable), for nested builds.
pub(crate) fn cargo() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Installs whatever of the eBPF toolchain is missing; idempotent.
pub(crate) fn ensure(root: &Path) -> Result<()> {
    ensure_rust_src()?;
    ensure_bpf_linker(root)
}

/// `rustup component add rust-src --toolchain nightly`, unless installed.
fn ensure_rust_src() -> Result<()> {
    let installed = probe(Command::new("rustup").args([
        "component",
        "list",
        "--toolchain",
        NIGHTLY,
        "--installed",
    ]))
    .context("cannot list the components of the nightly toolchain: is rustup installed, with a `nightly` toolchain?")?;
    if installed
        .lines()
        .any(|l| l.trim() == "rust-src" || l.starts_with("rust-src"))
    {
        return Ok(());
    }
    run(Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", NIGHTLY]))
}

/// bpf-linker in `<repo>/.tools/bin`, built against the nightly toolchain's
/// own libLLVM (so its LLVM matches the bitcode rustc emits), unless a
/// working one is there.
fn ensure_bpf_linker(root: &Path) -> Result<()> {
    let tools = tools_dir(root);
    let linker = tools.join("bin/bpf-linker");
    if probe(Command::new(&linker).arg("--version")).is_some() {
        return Ok(());
    }
    let llvm = tools.join("llvm");
    link_nightly_llvm(&llvm.join("lib"))?;
    run(cargo()
        .args(["install", "bpf-linker", "--version", BPF_LINKER_VERSION])
        .args([
            "--no-default-features",
            "--features",
            BPF_LINKER_LLVM_FEATURE,
        ])
        .arg("--root")
        .arg(&tools)
        // llvm-sys links against LLVM_PREFIX/lib and records it as the
        // binary's RUNPATH, so the linker finds nightly's libLLVM at run time.
        .env("LLVM_PREFIX", &llvm))?;
    if probe(Command::new(&linker).arg("--version")).is_none() {
        bail!("{} was installed but does not run", linker.display());
    }
    Ok(())
}

/// Makes `lib/libLLVM.so` and `lib/<soname>` point at nightly's libLLVM.
fn link_nightly_llvm(lib: &Path) -> Result<()> {
    let sysroot = probe(
        Command::new("rustup").args(["run", NIGHTLY, "rustc", "--print", "sysroot"]),
    )
    .context(
        "cannot find the nightly toolchain's sysroot (`rustup run nightly rustc --print sysroot`)",
    )?;
    let nightly_lib = Path::new(sysroot.trim()).join("lib");
    let soname = fs::read_dir(&nightly_lib)
        .with_context(|| format!("listing {}", nightly_lib.display()))?
        .filter_map(std::result::Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("libLLVM.so."))
        .with_context(|| format!("no libLLVM.so.* in {}", nightly_lib.display()))?;
    let target = nightly_lib.join(&soname);
    fs::create_dir_all(lib).with_context(|| format!("creating {}", lib.display()))?;
    for name in ["libLLVM.so", soname.as_str()] {
        let link = lib.join(name);
        if link.symlink_metadata().is_ok() {
            fs::remove_file(&link).with_context(|| format!("replacing {}", link.display()))?;
        }
        symlink(&target, &link)
            .with_context(|| format!("linking {} -> {}", link.display(), target.display()))?;
    }
    Ok(())
}
