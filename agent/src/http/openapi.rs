//! The OpenAPI document, generated from the route annotations and the proto
//! types, and committed as `agent/openapi.json`. The statuses every route
//! shares are added here, once: 401, 429 (with `Retry-After`) and 500 on
//! every `/v1` operation, 403
//! (read-scope tokens) on every one that is not a GET, 400 on every one that
//! takes parameters or a body, 413 on every one with a body, and on every
//! one that changes something the `Idempotency-Key` header with its 409
//! and 422. Problems are
//! documented as `application/problem+json`, as they are sent.

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::{Content, Ref, RefOr, Response, ResponseBuilder};
use utoipa::OpenApi;

struct Amend;

fn problem_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                Content::new(Some(Ref::from_schema_name("Problem"))),
            )
            .build(),
    )
}

/// 429 with `Retry-After`; a route that has its own 429 (too many
/// terminals or streams) says so itself and keeps its description.
fn rate_limited() -> RefOr<Response> {
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    let seconds = HeaderBuilder::new()
        .schema(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1)),
        )
        .description(Some("Seconds to wait before trying again"))
        .build();
    RefOr::T(
        ResponseBuilder::new()
            .description("Too many requests without a valid token lately, or too many from this token (rate_limited)")
            .header("Retry-After", seconds)
            .content("application/problem+json", Content::new(Some(Ref::from_schema_name("Problem"))))
            .build(),
    )
}

fn amend_operation(path: &str, method: &str, op: &mut Operation) {
    let responses = &mut op.responses.responses;
    // Route annotations say `body = Problem`, which utoipa files under
    // application/json: move it to the media type actually sent.
    for resp in responses.values_mut() {
        if let RefOr::T(r) = resp {
            if let Some(content) = r.content.shift_remove("application/json") {
                let is_problem = matches!(&content.schema, Some(RefOr::Ref(rf)) if rf.ref_location.ends_with("/Problem"));
                let key = if is_problem {
                    "application/problem+json"
                } else {
                    "application/json"
                };
                r.content.insert(key.to_string(), content);
            }
        }
    }
    let changes = path.starts_with("/v1/") && method != "get";
    if changes {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        use utoipa::openapi::Required;
        let key = ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .schema(Some(ObjectBuilder::new().schema_type(Type::String).min_length(Some(8)).max_length(Some(128)).pattern(Some("^[A-Za-z0-9_-]+$"))))
            .description(Some("Makes the request safe to send again: done once per token and key; the same request sent again within a day gets the first answer (with Idempotent-Replayed: true)"))
            .build();
        op.parameters.get_or_insert_with(Vec::new).push(key);
    }
    let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let has_body = op.request_body.is_some();
    let mut add = |status: &str, description: &str| {
        responses
            .entry(status.to_string())
            .or_insert_with(|| problem_response(description));
    };
    if has_params || has_body {
        add("400", "Invalid input, with an error per field");
    }
    if path.starts_with("/v1/") {
        add("401", "No token, an unknown one, or a revoked one");
        if method != "get" {
            add("403", "The token's scope does not allow this");
        }
        add(
            "500",
            "The agent failed; the problem's request_id names it in the agent's log",
        );
    }
    if has_body {
        add("413", "The request body is larger than 16 MiB");
    }
    if changes {
        add(
            "422",
            "The Idempotency-Key came first with another request (idempotency_key_reused)",
        );
        const IN_PROGRESS: &str = "The first request with this Idempotency-Key is still being answered (idempotency_in_progress)";
        match responses.get_mut("409") {
            Some(RefOr::T(own)) => {
                own.description = format!("{}; or {IN_PROGRESS}", own.description)
            }
            _ => {
                responses.insert("409".to_string(), problem_response(IN_PROGRESS));
            }
        }
    }
    if path.starts_with("/v1/") {
        match responses.get_mut("429") {
            // The route's own 429 (too many terminals or streams) is also sent.
            Some(RefOr::T(own)) => {
                if let RefOr::T(r) = rate_limited() {
                    own.description = format!("{}; or {}", own.description, r.description);
                    own.headers.extend(r.headers);
                }
            }
            _ => {
                responses.insert("429".to_string(), rate_limited());
            }
        }
    }
}

impl utoipa::Modify for Amend {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            let PathItem {
                get,
                post,
                put,
                delete,
                ..
            } = item;
            for (method, op) in [
                ("get", get),
                ("post", post),
                ("put", put),
                ("delete", delete),
            ] {
                if let Some(op) = op {
                    amend_operation(path, method, op);
                }
            }
        }
    }
}

/// The document's frame; the operations come from the routes (`super::openapi`).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "AppOS agent API",
        description = "Reached through an SSH tunnel to the agent's unix socket. Every /v1 route needs a bearer token."
    ),
    components(schemas(
        appos_proto::Problem,
        appos_proto::ProblemCode,
        appos_proto::FieldError,
        appos_proto::AppAction
    ))
)]
pub struct ApiDoc;

/// Adds what every operation shares (see the module's comment).
pub fn amend(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    utoipa::Modify::modify(&Amend, &mut doc);
    doc
}

/// The OpenAPI document as committed in `agent/openapi.json`.
pub fn openapi_json() -> String {
    let mut s = super::openapi().to_pretty_json().unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_openapi_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == openapi_json(),
            "agent/openapi.json is out of date: run `cargo xtask gen` and commit the result"
        );
    }

    #[test]
    fn problems_are_documented_as_sent() {
        let doc: serde_json::Value = serde_json::from_str(&openapi_json()).expect("json");
        let mut problems = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("item") {
                for (status, resp) in op["responses"].as_object().expect("responses") {
                    let content = resp["content"].as_object().cloned().unwrap_or_default();
                    if status.starts_with('4') || status.starts_with('5') {
                        problems += 1;
                        assert_eq!(
                            content.keys().collect::<Vec<_>>(),
                            ["application/problem+json"],
                            "{method} {path} {status}"
                        );
                    }
                }
                if path.starts_with("/v1/") {
                    for status in ["401", "500"] {
                        assert!(
                            op["responses"].get(status).is_some(),
                            "{method} {path} lacks {status}"
                        );
                    }
                    if method != "get" {
                        assert!(
                            op["responses"].get("403").is_some(),
                            "{method} {path} lacks 403"
                        );
                    }
                }
            }
        }
        assert!(problems > 50, "{problems}");
    }
}
