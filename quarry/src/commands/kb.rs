//! `quarry kb`: list, create, delete, tokens, set-model.

use anyhow::{Result, bail};
use clap::Subcommand;
use quarry::app::{existing_kb, open_catalog, syncer};
use quarry::config::Config;
use quarry::render::{Bar, bar};

#[derive(Debug, Subcommand)]
pub enum KbCommand {
    /// List knowledge bases with their counts.
    List,
    /// Create a knowledge base and print its own admin and query tokens.
    Create {
        name: String,
        /// Embedding model (default: `models.default` of the config,
        /// multilingual-e5-small; all-MiniLM-L6-v2 is the fast English one).
        #[arg(long)]
        model: Option<String>,
    },
    /// Delete a knowledge base and everything in it.
    Delete { name: String },
    /// Issue new tokens for a knowledge base (the old ones stop working).
    Tokens { name: String },
    /// Change a knowledge base's embedding model: every source is synced
    /// again on the new model (re-chunked, re-embedded) into a new copy that
    /// replaces the old one only when all of them synced. Stop `quarry
    /// serve` first.
    SetModel {
        name: String,
        /// The new model (a name in `models.available`).
        model: String,
    },
}

pub fn kb_command(config: &Config, command: KbCommand) -> Result<()> {
    let catalog = open_catalog(config)?;
    let print_tokens = |name: &str, (admin, query): (String, String)| {
        println!("knowledge base {name}");
        println!("  admin token: {admin}");
        println!("  query token: {query}");
        println!("  (shown once; only their hashes are stored)");
    };
    match command {
        KbCommand::List => {
            for (name, kb) in catalog.all() {
                let stats = kb.stats()?;
                println!(
                    "{name}  {}  {} sources  {} documents  {} chunks",
                    kb.model(),
                    stats.store.sources,
                    stats.store.documents,
                    stats.store.chunks
                );
            }
        }
        KbCommand::Create { name, model } => {
            let (handle, created) = catalog.create_with_model(&name, model.as_deref())?;
            if !created {
                bail!(
                    "knowledge base {name:?} exists already (new tokens: `quarry kb tokens {name}`)"
                );
            }
            print_tokens(&name, quarry_query::issue_kb_tokens(&handle)?);
        }
        KbCommand::Delete { name } => {
            if !catalog.remove(&name)? {
                bail!("knowledge base {name:?} does not exist");
            }
            println!("deleted knowledge base {name}");
        }
        KbCommand::Tokens { name } => {
            let handle = existing_kb(&catalog, &name)?;
            print_tokens(&name, quarry_query::issue_kb_tokens(&handle)?);
        }
        KbCommand::SetModel { name, model } => {
            let handle = existing_kb(&catalog, &name)?;
            let sources = handle.sources()?.len();
            eprintln!(
                "re-embedding knowledge base {name:?} ({sources} sources) from {} to {model}",
                handle.model()
            );
            drop(handle);
            let syncer = syncer(config, catalog);
            let bar = bar();
            let change = syncer.change_model(&name, &model, &Bar(bar.clone()))?;
            bar.finish_and_clear();
            println!(
                "knowledge base {name} now uses {}: {} sources, {} documents, {} chunks re-embedded in {:.1} s",
                change.to,
                change.sources,
                change.documents,
                change.chunks,
                change.elapsed_ms as f64 / 1000.0
            );
        }
    }
    Ok(())
}
