//! Bearer tokens: [`Auth`] decides who may query and who may administer a
//! knowledge base.
//!
//! - Server-wide tokens come from the configuration (or the environment
//!   variables `QUARRY_ADMIN_TOKEN` / `QUARRY_QUERY_TOKEN`, read by the
//!   binary): the admin token may do everything, the query token may query
//!   every knowledge base.
//! - Each knowledge base created over the API gets tokens of its own
//!   ([`issue_kb_tokens`]), valid for that knowledge base only. Only their
//!   BLAKE3 hashes are stored.
//!
//! Tokens are compared as BLAKE3 hashes, whose equality is constant-time.
//! With no server-wide token configured, access is open and the server
//! binds to loopback only.

use crate::{Error, Result};
use quarry_index::{Catalog, KnowledgeBase};

/// Store meta keys of a knowledge base's own token hashes.
const KB_ADMIN_KEY: &str = "admin_token_blake3";
const KB_QUERY_KEY: &str = "query_token_blake3";

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Query,
    Admin,
}

/// The server-wide tokens.
#[derive(Clone, Default)]
pub struct Auth {
    admin: Option<blake3::Hash>,
    query: Option<blake3::Hash>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("admin", &self.admin.is_some())
            .field("query", &self.query.is_some())
            .finish()
    }
}

fn hash(token: &str) -> blake3::Hash {
    blake3::hash(token.as_bytes())
}

fn stored(kb: &KnowledgeBase, key: &str) -> Option<blake3::Hash> {
    kb.meta(key)
        .ok()
        .flatten()
        .and_then(|h| blake3::Hash::from_hex(h).ok())
}

/// Makes new tokens for a knowledge base, replacing any it had, and returns
/// them (admin, query). They are not stored, only their hashes.
pub fn issue_kb_tokens(kb: &KnowledgeBase) -> Result<(String, String)> {
    let make = |key: &str, prefix: &str| -> Result<String> {
        let mut bytes = [0u8; 24];
        getrandom::fill(&mut bytes)
            .map_err(|e| Error::Internal(format!("no randomness for a token: {e}")))?;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let token = format!("{prefix}_{hex}");
        kb.set_meta(key, hash(&token).to_hex().as_str())?;
        Ok(token)
    };
    Ok((make(KB_ADMIN_KEY, "qa")?, make(KB_QUERY_KEY, "qq")?))
}

impl Auth {
    /// Empty strings count as unset.
    pub fn new(admin: Option<&str>, query: Option<&str>) -> Self {
        let set = |t: Option<&str>| t.map(str::trim).filter(|t| !t.is_empty()).map(hash);
        Self {
            admin: set(admin),
            query: set(query),
        }
    }

    /// False when no server-wide token is configured: access is open.
    pub fn is_enabled(&self) -> bool {
        self.admin.is_some() || self.query.is_some()
    }

    /// The token of an `Authorization: Bearer …` header value.
    pub fn bearer(header: Option<&str>) -> Option<&str> {
        let value = header?.trim();
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty())
    }

    /// May `token` do `scope` on knowledge base `kb` (`None`: server-wide
    /// administration such as creating knowledge bases)?
    pub fn check(
        &self,
        catalog: &Catalog,
        token: Option<&str>,
        kb: Option<&str>,
        scope: Scope,
    ) -> Result<()> {
        if !self.is_enabled() {
            return Ok(());
        }
        let token = token.ok_or_else(|| {
            Error::Unauthorized("an Authorization: Bearer token is required".into())
        })?;
        let h = hash(token);
        if self.admin == Some(h) {
            return Ok(());
        }
        let forbidden = || Error::Forbidden("this token may not do that".into());
        if self.query == Some(h) {
            return match (scope, kb) {
                (Scope::Query, Some(_)) => Ok(()),
                _ => Err(forbidden()),
            };
        }
        if let Some(name) = kb
            && let Some(target) = catalog.get(name)?
        {
            if stored(&target, KB_ADMIN_KEY) == Some(h) {
                return Ok(());
            }
            if stored(&target, KB_QUERY_KEY) == Some(h) {
                return match scope {
                    Scope::Query => Ok(()),
                    Scope::Admin => Err(forbidden()),
                };
            }
        }
        // A token of another knowledge base is known but not valid here.
        for (_, other) in catalog.all() {
            if stored(&other, KB_ADMIN_KEY) == Some(h) || stored(&other, KB_QUERY_KEY) == Some(h) {
                return Err(forbidden());
            }
        }
        Err(Error::Unauthorized("invalid token".into()))
    }
}
