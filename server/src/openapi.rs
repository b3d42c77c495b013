//! The OpenAPI 3.1 document, served at `GET /v1/openapi.json`. The paths
//! come from each handler's `#[utoipa::path]` through `utoipa-axum`'s
//! router, so a route cannot be served without being described; this
//! module adds what is shared: the title, the bearer scheme, the tags.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder};

const TAGS: [(&str, &str); 9] = [
    ("query", "Questions in, cited passages out"),
    ("dify", "Dify's External Knowledge API"),
    ("knowledge-bases", "Knowledge bases and their tokens"),
    ("sources", "Files, folders, URLs, sites and uploads"),
    ("articles", "Knowledge-base articles pushed by a CMS"),
    ("short-answers", "Question and answer pairs"),
    ("jobs", "Sync jobs"),
    (
        "answering",
        "Gaps, suggestions, synonyms, conflicts, analytics",
    ),
    (
        "operations",
        "Health, readiness, metrics, this document, the playground",
    ),
];

/// The document before the paths are added.
pub fn base() -> OpenApi {
    let components = ComponentsBuilder::new()
        .security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A server-wide token (QUARRY_ADMIN_TOKEN / QUARRY_QUERY_TOKEN) or a knowledge base's own admin or query token",
                    ))
                    .build(),
            ),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("quarry")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Grounded, cited passages from a company's content for AI support agents. Errors are {\"error\": {\"code\", \"message\", \"request_id\"}} (Dify's /retrieval: {\"error_code\", \"error_msg\"}).",
                ))
                .build(),
        )
        .components(Some(components))
        .tags(Some(
            TAGS.iter()
                .map(|(name, description)| {
                    TagBuilder::new()
                        .name(*name)
                        .description(Some(*description))
                        .build()
                })
                .collect::<Vec<_>>(),
        ))
        .build()
}
