//! The one error type of the API: every failure is `{"error": {"code", "message"}}` with the right
//! status. Internal details are logged, never sent.
//!
//! Everything a client sends is answered through it: query strings (`ApiQuery`), bodies
//! (`ApiJson`), path segments the route cannot take, such as bytes that are not UTF-8 (`ApiPath`,
//! 400), unknown paths and methods (the router's fallbacks) and a WebSocket endpoint asked for
//! without a handshake (426). A body whose `Content-Length` is over `MAX_REQUEST_BYTES` is refused
//! (413, `Connection: close`) before any of it is read, and a chunked one is cut at the same limit;
//! bodies over 64 KiB are parsed on a blocking thread, never the runtime's.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use technic_engine::{RegistryError, RequestError};

use crate::AppState;
use crate::bodies::{ErrorBody, ErrorDetail};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON (or not sent as JSON).
    #[error("{0}")]
    BadJson(String),
    /// A path segment the route cannot take, e.g. percent-encoded bytes that are not UTF-8.
    #[error("{0}")]
    BadPath(String),
    /// JSON of the wrong shape or a value out of range; the message names the field.
    #[error("{0}")]
    Invalid(String),
    /// A request field the engine refused, sent as `field` (and, for an expression such as
    /// `where`, its character `column`) beside the message, so a page can point at it.
    #[error("{message}")]
    InvalidField {
        field: &'static str,
        column: Option<usize>,
        message: String,
    },
    #[error("{0}")]
    NotFound(String),
    /// The path exists, the method does not.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A WebSocket endpoint asked for without a valid WebSocket handshake; axum's reason.
    #[error("this endpoint is a WebSocket: {0}")]
    NotWebSocket(String),
    #[error("{0}")]
    Conflict(String),
    #[error("too many open streams (MAX_CONCURRENT_STREAMS = {0}); close one or retry later")]
    TooManyStreams(usize),
    #[error("too many running scans (MAX_CONCURRENT_SCANS = {0}); retry when one has ended")]
    TooManyScans(usize),
    #[error("too many running backtests (MAX_CONCURRENT_SCANS = {0}); retry when one has ended")]
    TooManyBacktests(usize),
    #[error("{0}")]
    Unavailable(String),
    /// A body over `MAX_REQUEST_BYTES`.
    #[error("the request body is larger than this server accepts (MAX_REQUEST_BYTES = {0} bytes)")]
    TooLarge(usize),
    /// Logged in full; the client only learns that something failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadJson(_) => (StatusCode::BAD_REQUEST, "bad_json"),
            ApiError::BadPath(_) => (StatusCode::BAD_REQUEST, "bad_path"),
            ApiError::Invalid(_) | ApiError::InvalidField { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request")
            }
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::NotWebSocket(_) => (StatusCode::UPGRADE_REQUIRED, "websocket_required"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::TooManyStreams(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_streams"),
            ApiError::TooManyScans(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_scans"),
            ApiError::TooManyBacktests(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_backtests"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                "internal error; see the server log".to_owned()
            }
            other => other.to_string(),
        };
        let (field, column) = match &self {
            ApiError::InvalidField { field, column, .. } => (Some((*field).to_owned()), *column),
            _ => (None, None),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message,
                field,
                column,
            },
        };
        (status, Json(body)).into_response()
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        ApiError::InvalidField {
            field: e.field,
            column: e.column,
            message: e.to_string(),
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::UnknownScan(_) => ApiError::NotFound(e.to_string()),
            RegistryError::AlreadyFinished(_) => ApiError::Conflict(e.to_string()),
            RegistryError::ShuttingDown => ApiError::Unavailable(e.to_string()),
            RegistryError::TooManyScans(max) => ApiError::TooManyScans(max),
        }
    }
}

/// `Json<T>` whose rejections are [`ApiError`]s: syntax errors are 400, shape errors (unknown field,
/// wrong type) 422 with serde's message naming the field, a body over the limit 413.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

/// Bodies larger than this are parsed on a blocking thread: a megabyte of JSON takes milliseconds
/// that would otherwise hold up every connection the runtime thread serves.
const PARSED_OFF_THE_RUNTIME: usize = 64 * 1024;

/// The `Content-Type`s axum's `Json` accepts: `application/json` and `application/*+json`.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|subtype| subtype.ends_with("+json"))
}

impl<T: DeserializeOwned + Send + 'static> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::BadJson(
                "Expected request with `Content-Type: application/json`".to_owned(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge(state.config().max_request_bytes)
            } else {
                ApiError::BadJson(e.body_text())
            }
        })?;
        let parsed = if bytes.len() > PARSED_OFF_THE_RUNTIME {
            tokio::task::spawn_blocking(move || Json::<T>::from_bytes(&bytes))
                .await
                .map_err(|e| ApiError::Internal(format!("parsing a request body: {e}")))?
        } else {
            Json::<T>::from_bytes(&bytes)
        };
        match parsed {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::Invalid(e.body_text())),
            Err(e) => Err(ApiError::BadJson(e.body_text())),
        }
    }
}

/// `Query<T>` whose rejections are [`ApiError`]s: 422 with serde's message naming the parameter,
/// instead of axum's plain-text 400.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|e| ApiError::Invalid(e.body_text()))
    }
}

/// `Path<T>` whose rejections are [`ApiError`]s: a path segment that is not what the route takes
/// (such as percent-encoded bytes that are not UTF-8) answers the API's JSON 400, not axum's text.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|e| ApiError::BadPath(e.body_text()))
    }
}

/// Refuses a body whose declared `Content-Length` is over `MAX_REQUEST_BYTES` before reading any of
/// it, and closes the connection: otherwise a client declaring 10 GB holds it open while the body is
/// read up to the limit (or for ever, if it never sends). Bodies without a length (chunked) are cut
/// at the same limit as they are read (`DefaultBodyLimit`).
pub async fn refuse_oversize_bodies(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let limit = state.config().max_request_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| u64::try_from(limit).is_ok_and(|limit| length > limit)) {
        let mut response = ApiError::TooLarge(limit).into_response();
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
        return response;
    }
    next.run(request).await
}

/// What an unknown path answers: the API's JSON error rather than an empty 404.
pub async fn no_such_endpoint(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!(
        "no endpoint {method} {}; see /openapi.json",
        uri.path()
    ))
}

/// What a known path answers to a method it does not serve.
pub async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{} does not answer {method}; see /openapi.json",
        uri.path()
    ))
}
