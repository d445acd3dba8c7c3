//! The one error type of the API: every failure is `{"error": {"code", "message"}}` with the right
//! status. Internal details are logged, never sent.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use technic_engine::{RegistryError, RequestError};

use crate::bodies::{ErrorBody, ErrorDetail};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON (or not sent as JSON).
    #[error("{0}")]
    BadJson(String),
    /// JSON of the wrong shape or a value out of range; the message names the field.
    #[error("{0}")]
    Invalid(String),
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
    #[error("{0}")]
    Unavailable(String),
    /// Logged in full; the client only learns that something failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadJson(_) => (StatusCode::BAD_REQUEST, "bad_json"),
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::NotWebSocket(_) => (StatusCode::UPGRADE_REQUIRED, "websocket_required"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::TooManyStreams(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_streams"),
            ApiError::TooManyScans(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_scans"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
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
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message,
            },
        };
        (status, Json(body)).into_response()
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        ApiError::Invalid(e.to_string())
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
/// wrong type) 422 with serde's message naming the field.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
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
