//! The API's contract: every JSON answer a web test receives is held against the schema
//! that `/openapi.json` gives its path, method and status, so the document and the
//! answers cannot drift apart.
//!
//! The document is the library's own ([`pecwatch::web::spec`], what the server
//! serves), made strict for the tests: an object schema that lists its members refuses
//! any other (`unevaluatedProperties: false`), unless another schema extends it
//! (`allOf`) or it has members of its own kind (a problem's), so that a member an answer
//! gains without the document knowing fails here.
//! Dates are checked as `date-time`.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};

use serde_json::{Value, json};

/// How many answers were held against the document (`PECWATCH_CONTRACT_LOG=1` prints
/// each).
pub static HELD: AtomicUsize = AtomicUsize::new(0);

/// The strict document.
static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
    let mut document = serde_json::to_value(pecwatch::web::spec("")).expect("the document as JSON");
    let mut extended = BTreeSet::new();
    extended_schemas(&document, false, &mut extended);
    if let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for (name, schema) in schemas.iter_mut() {
            let listed = schema.get("properties").is_some() || schema.get("allOf").is_some();
            // A member flattened from a map (a problem's own members) leaves it open.
            let open = schema["allOf"].as_array().is_some_and(|parts| {
                parts.iter().any(|part| {
                    part.get("properties").is_none()
                        && part.get("$ref").is_none()
                        && part.get("allOf").is_none()
                })
            });
            if listed
                && !open
                && schema.get("additionalProperties").is_none()
                && !extended.contains(name.as_str())
            {
                schema["unevaluatedProperties"] = json!(false);
            }
        }
    }
    document
});

/// The names of the schemas referred to from inside an `allOf` (extended by another).
fn extended_schemas(value: &Value, in_all_of: bool, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "$ref"
                    && in_all_of
                    && let Some(name) = value
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    out.insert(name.to_owned());
                }
                extended_schemas(value, in_all_of || key == "allOf", out);
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| extended_schemas(item, in_all_of, out)),
        _ => {}
    }
}

/// The validators, by the JSON text of their schema.
static VALIDATORS: LazyLock<Mutex<HashMap<String, jsonschema::Validator>>> =
    LazyLock::new(Mutex::default);

/// Whether `value` satisfies `schema` (a schema of the document, its `$ref`s into the
/// document's components); the errors if not.
fn satisfies(schema: &Value, value: &Value) -> Result<(), String> {
    let key = schema.to_string();
    let mut validators = VALIDATORS.lock().unwrap_or_else(|e| e.into_inner());
    let validator = validators.entry(key).or_insert_with(|| {
        let mut root = json!({ "allOf": [schema] });
        root["components"] = DOCUMENT["components"].clone();
        jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|error| {
                panic!("the document's schema {schema} does not compile: {error}")
            })
    });
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// The document's path template that `path` (a concrete path, no query) is an instance
/// of.
fn template(path: &str) -> Option<(&'static str, &'static Value)> {
    let segments: Vec<&str> = path.split('/').collect();
    DOCUMENT["paths"]
        .as_object()?
        .iter()
        .find(|(template, _)| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(part, segment)| part == segment || part.starts_with('{'))
        })
        .map(|(template, item)| (template.as_str(), item))
}

/// Holds the JSON answer `value` to `method` `path` (the URL's path) with `status` and
/// `content_type` against the document: the schema of that operation's response of that
/// status and media type must accept it. `method` may be unknown (`None`): then the
/// answer must satisfy one of the path's operations that document such a response.
/// Answers that are not JSON, and JSON off the documented paths (the console, the
/// pages), are not the contract's; a problem off them must still be a problem.
pub fn hold(method: Option<&str>, path: &str, status: u16, content_type: &str, value: &Value) {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != "application/json" && essence != "application/problem+json" {
        return;
    }
    let log = std::env::var_os("PECWATCH_CONTRACT_LOG").is_some();
    let Some((template, item)) = template(path) else {
        if essence == "application/problem+json" {
            let problem = json!({ "$ref": "#/components/schemas/ProblemBody" });
            if let Err(errors) = satisfies(&problem, value) {
                panic!("{status} on {path}: not a problem: {errors}\n{value}");
            }
            HELD.fetch_add(1, Ordering::Relaxed);
        }
        return;
    };
    let operations: Vec<(&String, &Value)> = item
        .as_object()
        .map(|map| {
            map.iter()
                .filter(|(m, _)| method.is_none_or(|method| method.eq_ignore_ascii_case(m)))
                .collect()
        })
        .unwrap_or_default();
    let mut tried = Vec::new();
    for (name, operation) in &operations {
        let Some(schema) = operation
            .get("responses")
            .and_then(|responses| responses.get(status.to_string()))
            .and_then(|response| response.get("content"))
            .and_then(|content| content.get(&essence))
            .and_then(|media| media.get("schema"))
        else {
            continue;
        };
        match satisfies(schema, value) {
            Ok(()) => {
                let held = HELD.fetch_add(1, Ordering::Relaxed) + 1;
                if log {
                    eprintln!("contract #{held}: {name} {template} {status} {essence}");
                }
                return;
            }
            Err(errors) => tried.push(format!("{name}: {errors}")),
        }
    }
    assert!(
        !tried.is_empty(),
        "{} {path} answered {status} {essence}, which {template} does not document:\n{value}",
        method.unwrap_or("?")
    );
    panic!(
        "{} {path} answered {status} {essence} off its schema: {}\n{value}",
        method.unwrap_or("?"),
        tried.join("\n")
    );
}

/// Reads a response's body as JSON (or a string, if it is not JSON), holding it to the
/// contract ([`hold`]; the request's method is not known to the response).
pub async fn checked(
    response: reqwest::Response,
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, Value) {
    checked_as(None, response).await
}

/// [`checked`] for a request of `method`.
pub async fn checked_as(
    method: Option<&str>,
    response: reqwest::Response,
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, Value) {
    let status = response.status();
    let headers = response.headers().clone();
    let path = response.url().path().to_owned();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    let content_type = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    hold(method, &path, status.as_u16(), content_type, &value);
    (status, headers, value)
}
