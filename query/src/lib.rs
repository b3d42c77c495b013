//! The read path as a library: retrieval, confidence, tokens. No web
//! framework: the HTTP routes live in `quarry-server`.
//!
//! Main types: [`Retriever`] (question → [`QueryResponse`] of cited
//! [`Passage`]s, a confidence and a [`Decision`]), [`ConfidenceOptions`] (the
//! confidence function and its thresholds), [`QueryService`] (a question to
//! its knowledge base, behind [`Auth`]'s tokens).
//!
//! ```no_run
//! use std::sync::Arc;
//! use quarry_index::{HashEmbedder, IndexOptions, KnowledgeBase};
//! use quarry_query::{QueryOptions, QueryRequest, Retriever};
//!
//! let kb = KnowledgeBase::open("data".as_ref(), Arc::new(HashEmbedder::new(64)), IndexOptions::default())?;
//! let retriever = Retriever::new(Arc::new(kb), QueryOptions::default())?;
//! let response = retriever.query(&QueryRequest::new("How do I reset my password?"))?;
//! println!("{:?} ({:.2})", response.decision, response.confidence);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod analytics;
pub mod auth;
pub mod cache;
pub mod confidence;
mod error;
pub mod gaps;
pub mod insights;
pub mod log;
pub mod response;
pub mod retrieve;
mod service;
pub mod suggest;
pub mod synonyms;

pub use auth::{Auth, Scope, issue_kb_tokens};
pub use cache::{CacheStats, QueryCache};
pub use confidence::{
    ConfidenceFile, ConfidenceOptions, Decision, DecisionDetails, FEATURE_NAMES, Features,
    ModelTuning,
};
pub use error::{Error, Result};
pub use log::{AnalyticsOptions, QuestionLogger};
pub use response::{Citation, Passage, QueryRequest, QueryResponse, ScoreDetails, Timings};
pub use retrieve::{Fusion, QueryOptions, Retriever, SHORT_ANSWER_FORMAT};
pub use service::QueryService;
