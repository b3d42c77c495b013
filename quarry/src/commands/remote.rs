//! `query`, `status`, `sources`, `sync` and `ingest` through a running
//! server's HTTP API ([`quarry::remote`]): the server holds the knowledge
//! base, so these never fail with "locked".

use anyhow::{Context, Result, bail};
use quarry::remote::Remote;
use quarry::render::{job_report, print_answer, print_sources, print_sync_reports};
use quarry_index::{JobRecord, JobStatus, SourceRecord, SourceSpec};
use quarry_ingest::IngestReport;
use quarry_query::{QueryRequest, QueryResponse};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};

pub fn query(
    r: &Remote,
    kb: &str,
    question: String,
    top_k: Option<usize>,
    json: bool,
) -> Result<()> {
    let request = QueryRequest {
        top_k,
        kb: Some(kb.to_owned()),
        ..QueryRequest::new(question)
    };
    let response: QueryResponse = r.post("/v1/query", &request)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&response)?);
    } else {
        print_answer(&response);
    }
    Ok(())
}

pub fn status(r: &Remote, kb: &str) -> Result<()> {
    let v: Value = r.get(&format!("/v1/kb/{kb}"))?;
    let stats = &v["stats"];
    let n = |k: &str| stats[k].as_u64().unwrap_or(0);
    println!("server:     {}", r.base);
    println!("kb:         {kb} ({} sources)", n("sources"));
    println!("documents:  {}", n("documents"));
    println!("chunks:     {}", n("chunks"));
    println!("embeddings: {} cached", n("embeddings"));
    println!(
        "vectors:    {} ({} removed, awaiting compaction)",
        n("vector_points"),
        n("tombstones")
    );
    Ok(())
}

fn list_sources(r: &Remote, kb: &str) -> Result<Vec<SourceRecord>> {
    let v: Value = r.get(&format!("/v1/kb/{kb}/sources"))?;
    Ok(serde_json::from_value(v["sources"].clone())?)
}

pub fn sources(r: &Remote, kb: &str, json: bool) -> Result<()> {
    let sources = list_sources(r, kb)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&sources)?);
    } else {
        print_sources(&sources, quarry_index::unix_now());
    }
    Ok(())
}

/// Polls a job until it ends.
fn wait(r: &Remote, kb: &str, mut job: JobRecord) -> Result<JobRecord> {
    let started = Instant::now();
    while matches!(job.status, JobStatus::Queued | JobStatus::Running) {
        if started.elapsed() > Duration::from_secs(6 * 3600) {
            bail!("job {} still running after 6 h", job.id);
        }
        std::thread::sleep(Duration::from_millis(250));
        job = r.get(&format!("/v1/kb/{kb}/jobs/{}", job.id))?;
    }
    Ok(job)
}

pub fn sync(
    r: &Remote,
    kb: &str,
    source: Option<String>,
    uri: Option<String>,
    due: bool,
    json: bool,
) -> Result<()> {
    let now = quarry_index::unix_now();
    let ids: Vec<String> = match source {
        Some(id) => vec![id],
        None => list_sources(r, kb)?
            .into_iter()
            .filter(|s| s.kind.is_scheduled())
            .filter(|s| !due || s.next_sync_at.is_none_or(|t| t <= now))
            .map(|s| s.id)
            .collect(),
    };
    let jobs = ids.into_iter().map(|id| {
        let job: JobRecord = r.post(
            &format!("/v1/kb/{kb}/sources/{}/sync", quarry::remote::segment(&id)),
            &json!({"uri": uri}),
        )?;
        wait(r, kb, job)
    });
    print_sync_reports(jobs, json)
}

/// Web addresses become `url`/`site` sources on the server; files and
/// folders (walked here) are uploaded one file each.
pub fn ingest(
    r: &Remote,
    kb: &str,
    paths: &[String],
    private: bool,
    web: impl Fn(&str) -> Option<SourceSpec>,
) -> Result<Vec<IngestReport>> {
    let mut jobs: Vec<(String, JobRecord)> = Vec::new();
    for path in paths {
        if let Some(spec) = web(path) {
            let mut body = serde_json::to_value(&spec)?;
            body["settings"] = json!({"private": private});
            let v: Value = r.post(&format!("/v1/kb/{kb}/sources"), &body)?;
            jobs.push((path.clone(), serde_json::from_value(v["job"].clone())?));
            continue;
        }
        let root = Path::new(path);
        if !root.exists() {
            bail!("{path} does not exist");
        }
        for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
            let entry = entry.with_context(|| format!("walking {path}"))?;
            let hidden = entry.depth() > 0 && entry.file_name().to_string_lossy().starts_with('.');
            if !entry.file_type().is_file() || hidden {
                continue;
            }
            let file = entry.path();
            match r.upload(kb, file, private) {
                Ok(v) => jobs.push((
                    file.display().to_string(),
                    serde_json::from_value(v["job"].clone())?,
                )),
                // Refused at upload (an unsupported format): the file fails
                // alone, in the summary.
                Err(e) => jobs.push((
                    file.display().to_string(),
                    JobRecord {
                        status: JobStatus::Failed,
                        error: Some(format!("{e:#}")),
                        ..failed_job()
                    },
                )),
            }
        }
    }
    let mut reports = Vec::new();
    for (what, job) in jobs {
        let job = if job.id == 0 { job } else { wait(r, kb, job)? };
        let mut report = match job_report(&job) {
            Ok(report) => report,
            Err(e) => IngestReport {
                source_id: job.source_id.clone(),
                documents: 1,
                failed: vec![quarry_ingest::Failure {
                    uri: what.clone(),
                    name: what.clone(),
                    reason: format!("{e:#}"),
                }],
                ..IngestReport::default()
            },
        };
        if report.source_id.is_empty() {
            report.source_id = what;
        }
        reports.push(report);
    }
    Ok(reports)
}

fn failed_job() -> JobRecord {
    JobRecord {
        id: 0,
        source_id: String::new(),
        uri: None,
        trigger: "cli".into(),
        status: JobStatus::Failed,
        created_at: quarry_index::unix_now(),
        started_at: None,
        finished_at: None,
        done: 0,
        total: 0,
        report: None,
        error: None,
    }
}
