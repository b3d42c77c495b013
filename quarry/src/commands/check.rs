//! `quarry check`: do the store, the keyword index and the vector index of
//! each knowledge base agree? `--repair` rebuilds what differs from the
//! store. Through the server's API when one holds the data.

use anyhow::{Result, bail};
use quarry::app::{existing_kb, open_catalog};
use quarry::config::Config;
use quarry::remote::Remote;
use quarry_index::CheckReport;

/// Which knowledge bases: the one named, or every one with `all`.
pub fn check(config: &Config, kb: &str, all: bool, repair: bool, json: bool) -> Result<()> {
    let catalog = open_catalog(config)?;
    let names: Vec<String> = if all {
        catalog.names()
    } else {
        existing_kb(&catalog, kb)?;
        vec![kb.to_owned()]
    };
    let mut reports = Vec::new();
    for name in names {
        let kb = existing_kb(&catalog, &name)?;
        let report = kb.check(repair)?;
        if repair && !report.repaired.is_empty() {
            kb.flush()?;
        }
        reports.push((name, report));
    }
    finish(&reports, json)
}

pub fn remote(r: &Remote, kb: &str, repair: bool, json: bool) -> Result<()> {
    let path = format!(
        "/v1/kb/{}/check{}",
        quarry::remote::segment(kb),
        if repair { "?repair=true" } else { "" }
    );
    let report: CheckReport = r.post(&path, &serde_json::json!({}))?;
    finish(&[(kb.to_owned(), report)], json)
}

fn finish(reports: &[(String, CheckReport)], json: bool) -> Result<()> {
    if json {
        let out: serde_json::Map<String, serde_json::Value> = reports
            .iter()
            .map(|(n, r)| Ok((n.clone(), serde_json::to_value(r)?)))
            .collect::<Result<_>>()?;
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for (name, r) in reports {
            print(name, r);
        }
    }
    let bad: Vec<&str> = reports
        .iter()
        .filter(|(_, r)| !r.consistent)
        .map(|(n, _)| n.as_str())
        .collect();
    if !bad.is_empty() {
        bail!(
            "inconsistent: {} (run `quarry check --repair`)",
            bad.join(", ")
        );
    }
    Ok(())
}

fn print(name: &str, r: &CheckReport) {
    let verdict = if r.consistent { "ok" } else { "INCONSISTENT" };
    println!("kb {name}: {verdict} ({} chunks)", r.chunks);
    for problem in &r.store {
        println!("  store: {problem}");
    }
    if let Some(k) = &r.keyword {
        println!(
            "  keyword index: {} entries, {} missing {:?}, {} extra {:?}",
            k.entries, k.missing, k.sample_missing, k.extra, k.sample_extra
        );
    }
    if let Some(v) = &r.vector {
        println!(
            "  vector index:  {} points, {} missing {:?}, {} removed awaiting compaction",
            v.entries, v.missing, v.sample_missing, v.extra
        );
    }
    if let Some(s) = &r.snapshot {
        match (&s.name, &s.error) {
            (_, Some(e)) => println!("  snapshot: {e}"),
            (Some(n), None) => println!("  snapshot: {n}, {} points, checksums match", s.points),
            (None, None) => println!("  snapshot: none yet"),
        }
    }
    for done in &r.repaired {
        println!("  repaired: {done}");
    }
}
