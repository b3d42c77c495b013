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
    println!(
        "decision: {:?} (confidence {:.2}, top similarity {:.3}, language {})",
        response.decision, response.confidence, response.details.top_similarity, response.language
    );
    for (i, p) in response.passages.iter().enumerate() {
        println!();
        match &p.citation {
            Some(c) => println!(
                "[{}] {:.3}  {}  ({})",
                i + 1,
                p.score,
                c.url,
                std::iter::once(c.title.clone().unwrap_or_default())
                    .chain(c.heading_path.iter().cloned())
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" › ")
            ),
            None => println!(
                "[{}] {:.3}  (citations off for this source)",
                i + 1,
                p.score
            ),
        }
        if let Some(q) = &p.question {
            println!("    short answer to: {q}");
        }
        let text: String = p.text.chars().take(400).collect();
        let ellipsis = if p.text.chars().count() > 400 {
            " …"
        } else {
            ""
        };
        println!("    {}{ellipsis}", text.replace('\n', "\n    "));
    }
    Ok(())
}
