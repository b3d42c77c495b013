//! `quarry bench …` runs `quarry-bench …`: the benchmarks are a binary of
//! their own (the `quarry-bench` crate), so the server binary does not link
//! them. Like `cargo foo` → `cargo-foo`, the program is looked up beside
//! this one, then on `PATH`.

use anyhow::{Context, Result};
use std::ffi::OsString;
use std::path::PathBuf;

pub fn forward(
    data_dir: Option<PathBuf>,
    config: Option<PathBuf>,
    kb: &str,
    args: Vec<OsString>,
) -> Result<()> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("quarry-bench")))
        .filter(|p| p.is_file());
    let program = beside.unwrap_or_else(|| PathBuf::from("quarry-bench"));
    let mut command = std::process::Command::new(&program);
    if let Some(dir) = data_dir {
        command.arg("--data-dir").arg(dir);
    }
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    command.arg("--kb").arg(kb).args(args);
    let status = command.status().with_context(|| {
        format!(
            "running {} (build it with `cargo build --release -p quarry-bench`)",
            program.display()
        )
    })?;
    if status.success() {
        Ok(())
    } else {
        std::process::exit(status.code().unwrap_or(1));
    }
}
