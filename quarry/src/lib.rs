//! What the `quarry` and `quarry-bench` binaries share: the configuration
//! ([`config::Config`], defaults → `quarry.toml` → `QUARRY__*` variables),
//! the composition of the libraries from it ([`app`]), and the terminal
//! rendering of reports ([`render`]). The commands themselves are in
//! `src/commands/`, one module each.

pub mod app;
pub mod cli;
pub mod config;
pub mod locate;
pub mod remote;
pub mod render;
