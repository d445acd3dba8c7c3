//! `GET/POST/PUT/DELETE /screens[/{name}]`: saved screens in the learning store. A screen is
//! compiled before it is saved (a 422 names the field and column); one that no longer compiles
//! is listed with its `error`, never dropped. A screen may refer to another (`screen('name')`);
//! it is compiled against all saved screens, this one as it will be, so a cycle is refused.
//! Removing a screen others refer to is allowed: they are then listed with their `error`.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use technic_engine::{SavedText, ScreenLibrary, ScreenSpec};
use technic_learning::{LearningStore, SavedScreen, StoreError, library_of};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiPath};

/// A saved screen as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScreenBody {
    pub name: String,
    #[serde(rename = "where")]
    pub filter: Option<String>,
    pub rank_by: Option<String>,
    pub description: Option<String>,
    /// Unix seconds.
    pub created_at: u64,
    pub updated_at: u64,
    /// Why the screen no longer compiles (saved by an earlier version); absent when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What `POST /screens` (with `name`) and `PUT /screens/{name}` (without) take.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScreenInput {
    /// A letter, then up to 63 letters, digits, `_` or `-` (POST only).
    pub name: Option<String>,
    #[serde(rename = "where")]
    pub filter: Option<String>,
    pub rank_by: Option<String>,
    pub description: Option<String>,
}

fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The saved screens a scan or backtest request may refer to: none are read unless it names a
/// `screen` or its `where` may call `screen(…)`. Without a store the library is empty, so a
/// reference is refused as unknown.
pub(crate) async fn library_for(
    state: &AppState,
    names_screen: bool,
    filter: Option<&str>,
) -> Result<ScreenLibrary, ApiError> {
    let refers = names_screen || filter.is_some_and(|f| f.contains("screen"));
    match state.learning() {
        Some(learning) if refers => {
            let screens = learning.store().screens().await.map_err(store_error)?;
            Ok(library_of(&screens))
        }
        _ => Ok(ScreenLibrary::new()),
    }
}

fn body_of(screen: SavedScreen, library: &ScreenLibrary) -> ScreenBody {
    let error = ScreenSpec::compile_with(
        None,
        screen.filter.as_deref(),
        screen.rank_by.as_deref(),
        library,
    )
    .err()
    .map(|e| e.to_string());
    ScreenBody {
        name: screen.name,
        filter: screen.filter,
        rank_by: screen.rank_by,
        description: screen.description,
        created_at: seconds(screen.created_at),
        updated_at: seconds(screen.updated_at),
        error,
    }
}

fn store(state: &AppState) -> Result<&LearningStore, ApiError> {
    state
        .learning()
        .map(|learning| learning.store())
        .ok_or_else(|| {
            ApiError::Unavailable("this server has no learning store for saved screens".into())
        })
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::BadScreenName(_) => ApiError::InvalidField {
            field: "name",
            column: None,
            message: format!("name: {e}"),
        },
        other => ApiError::Internal(other.to_string()),
    }
}

async fn save(
    state: &AppState,
    name: &str,
    input: &ScreenInput,
    create_only: bool,
) -> Result<Response, ApiError> {
    let store = store(state)?;
    technic_learning::check_screen_name(name).map_err(store_error)?;
    if input.filter.is_none() && input.rank_by.is_none() {
        return Err(ApiError::InvalidField {
            field: "where",
            column: None,
            message: "a screen needs `where`, `rank_by` or both".into(),
        });
    }
    // Compiled against the other saved screens with this one replaced, so a screen referring to
    // itself through others is refused as a cycle.
    let mut library = library_of(&store.screens().await.map_err(store_error)?);
    library.insert(
        name.to_owned(),
        SavedText {
            filter: input.filter.clone(),
            rank_by: input.rank_by.clone(),
        },
    );
    ScreenSpec::compile_with(
        None,
        input.filter.as_deref(),
        input.rank_by.as_deref(),
        &library,
    )?;
    if create_only && store.screen(name).await.map_err(store_error)?.is_some() {
        return Err(ApiError::Conflict(format!(
            "a screen named '{name}' exists; PUT /screens/{name} replaces it"
        )));
    }
    let saved = store
        .save_screen(
            name,
            input.filter.as_deref(),
            input.rank_by.as_deref(),
            input.description.as_deref(),
            state.clock().wall(),
        )
        .await
        .map_err(store_error)?;
    let screen = store
        .screen(name)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::Internal(format!("screen '{name}' vanished after saving")))?;
    let library = library_of(&store.screens().await.map_err(store_error)?);
    let status = if saved == technic_learning::Saved::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(body_of(screen, &library))).into_response())
}

#[utoipa::path(get, path = "/screens", operation_id = "list_screens", responses(
    (status = 200, description = "Every saved screen, by name", body = [ScreenBody]),
    (status = 503, description = "The server has no learning store", body = crate::bodies::ErrorBody),
))]
pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<Vec<ScreenBody>>, ApiError> {
    let screens = store(&state)?.screens().await.map_err(store_error)?;
    let library = library_of(&screens);
    Ok(Json(
        screens.into_iter().map(|s| body_of(s, &library)).collect(),
    ))
}

#[utoipa::path(post, path = "/screens", operation_id = "create_screen", request_body = ScreenInput, responses(
    (status = 201, description = "Saved", body = ScreenBody),
    (status = 409, description = "A screen of that name exists", body = crate::bodies::ErrorBody),
    (status = 422, description = "A bad name or expression; `field` and `column` say where", body = crate::bodies::ErrorBody),
))]
pub(crate) async fn create(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<ScreenInput>,
) -> Result<Response, ApiError> {
    let Some(name) = input.name.clone() else {
        return Err(ApiError::InvalidField {
            field: "name",
            column: None,
            message: "name: a screen needs a name".into(),
        });
    };
    save(&state, &name, &input, true).await
}

#[utoipa::path(get, path = "/screens/{name}", operation_id = "get_screen", params(("name" = String, Path, description = "Screen name")), responses(
    (status = 200, description = "The screen", body = ScreenBody),
    (status = 404, description = "No screen of that name", body = crate::bodies::ErrorBody),
))]
pub(crate) async fn get_one(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ScreenBody>, ApiError> {
    get_named(&state, name).await
}

async fn get_named(state: &AppState, name: String) -> Result<Json<ScreenBody>, ApiError> {
    let screens = store(state)?.screens().await.map_err(store_error)?;
    let library = library_of(&screens);
    screens
        .into_iter()
        .find(|s| s.name == name)
        .map(|s| Json(body_of(s, &library)))
        .ok_or_else(|| ApiError::NotFound(format!("no saved screen named '{name}'")))
}

#[utoipa::path(put, path = "/screens/{name}", operation_id = "put_screen", params(("name" = String, Path, description = "Screen name")), request_body = ScreenInput, responses(
    (status = 200, description = "Replaced", body = ScreenBody),
    (status = 201, description = "Created", body = ScreenBody),
    (status = 422, description = "A bad name or expression; `field` and `column` say where", body = crate::bodies::ErrorBody),
))]
pub(crate) async fn put(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<ScreenInput>,
) -> Result<Response, ApiError> {
    put_named(&state, name, input).await
}

async fn put_named(
    state: &AppState,
    name: String,
    input: ScreenInput,
) -> Result<Response, ApiError> {
    if input.name.as_deref().is_some_and(|n| n != name) {
        return Err(ApiError::InvalidField {
            field: "name",
            column: None,
            message: "name: differs from the path; rename by DELETE and POST".into(),
        });
    }
    save(state, &name, &input, false).await
}

#[utoipa::path(delete, path = "/screens/{name}", operation_id = "delete_screen", params(("name" = String, Path, description = "Screen name")), responses(
    (status = 204, description = "Removed"),
    (status = 404, description = "No screen of that name", body = crate::bodies::ErrorBody),
))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    delete_named(&state, name).await
}

async fn delete_named(state: &AppState, name: String) -> Result<StatusCode, ApiError> {
    if store(state)?
        .remove_screen(&name)
        .await
        .map_err(store_error)?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!(
            "no saved screen named '{name}'"
        )))
    }
}

/// What `POST /screens/validate` takes: the expressions of a screen, or of a scan request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScreenCheck {
    #[serde(rename = "where")]
    pub filter: Option<String>,
    pub rank_by: Option<String>,
}

/// `POST /screens/validate`: the answer when both expressions compile.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScreenValid {
    pub valid: bool,
}

/// Compiles `where` and `rank_by` as a scan would, and says whether they would be accepted:
/// the page checks what the user types with it, before anything runs or is saved.
#[utoipa::path(post, path = "/screens/validate", operation_id = "validate_screen", request_body = ScreenCheck, responses(
    (status = 200, description = "Both compile", body = ScreenValid),
    (status = 422, description = "One does not; `field` and `column` say where", body = crate::bodies::ErrorBody),
))]
pub(crate) async fn validate(
    ApiJson(check): ApiJson<ScreenCheck>,
) -> Result<Json<ScreenValid>, ApiError> {
    ScreenSpec::compile(check.filter.as_deref(), check.rank_by.as_deref())?;
    Ok(Json(ScreenValid { valid: true }))
}

// `/screens/validate` is a path of its own, so a screen named `validate` is reached through these.
pub(crate) async fn get_validate(
    State(state): State<AppState>,
) -> Result<Json<ScreenBody>, ApiError> {
    get_named(&state, "validate".into()).await
}

pub(crate) async fn put_validate(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<ScreenInput>,
) -> Result<Response, ApiError> {
    put_named(&state, "validate".into(), input).await
}

pub(crate) async fn delete_validate(State(state): State<AppState>) -> Result<StatusCode, ApiError> {
    delete_named(&state, "validate".into()).await
}
