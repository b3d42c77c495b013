//! `quarry query`: one question, printed or as JSON.

use anyhow::Result;
use quarry::app::open_catalog;
use quarry::config::Config;
use quarry_query::{Auth, QueryRequest, QueryService};

pub fn query(
    config: &Config,
    kb: &str,
    question: String,
    top_k: Option<usize>,
    json: bool,
) -> Result<()> {
    let service = QueryService::new(open_catalog(config)?, config.query, Auth::default())?;
    let request = QueryRequest {
        top_k,
        kb: Some(kb.to_owned()),
        ..QueryRequest::new(question)
    };
    let response = service.query(None, &request)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&response)?);
        return Ok(());
    }
    quarry::render::print_answer(&response);
    Ok(())
}
