//! `cargo xtask bench`: a thin launcher of the bench crate. The bench
//! cannot link xtask, so xtask hands it the workspace's build code.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::Result;

use crate::{build, toolchain};

/// The workspace as the bench sees it: the root, and xtask's builds.
struct Workspace {
    root: PathBuf,
}

impl bench::Workspace for Workspace {
    fn root(&self) -> &Path {
        &self.root
    }

    fn build_fwd(&self) -> Result<PathBuf> {
        build::build(&self.root)
    }

    fn cargo(&self) -> Result<Command> {
        let mut cargo = toolchain::cargo();
        cargo
            .current_dir(&self.root)
            .env("PATH", toolchain::path_with_tools(&self.root)?);
        Ok(cargo)
    }
}

/// Runs the bench in the workspace at `root`.
pub(crate) fn bench(root: &Path, opts: &bench::Options) -> Result<()> {
    let workspace = Workspace {
        root: root.to_path_buf(),
    };
    bench::run(&workspace, opts)
}
