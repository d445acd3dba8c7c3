//! Saved screens: named `where` / `rank_by` pairs. The store keeps the text as typed and checks
//! only the name; compiling is the screen language's (callers report a screen that no longer
//! compiles rather than lose it).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::Row;

use crate::{LearningStore, StoreError, query, unix_seconds};

/// Longest screen name: it is typed on command lines and put in URLs.
pub const MAX_SCREEN_NAME: usize = 64;

/// A saved screen as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedScreen {
    pub name: String,
    pub filter: Option<String>,
    pub rank_by: Option<String>,
    pub description: Option<String>,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
}

/// Every saved screen's texts by name: what `screen('name')` and a request's `screen` resolve
/// against when a screen is compiled.
pub fn library_of(screens: &[SavedScreen]) -> technic_engine::ScreenLibrary {
    screens
        .iter()
        .map(|s| {
            let texts = technic_engine::SavedText {
                filter: s.filter.clone(),
                rank_by: s.rank_by.clone(),
            };
            (s.name.clone(), texts)
        })
        .collect()
}

/// Whether saving made a new screen or replaced one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    Created,
    Updated,
}

/// A name is a letter, then up to 63 letters, digits, `_` or `-`: safe in a URL path and a shell.
pub fn check_screen_name(name: &str) -> Result<(), StoreError> {
    let valid = name.len() <= MAX_SCREEN_NAME
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(StoreError::BadScreenName(name.chars().take(80).collect()))
    }
}

fn time(seconds: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
}

fn screen_of(row: &sqlx::any::AnyRow) -> Result<SavedScreen, sqlx::Error> {
    Ok(SavedScreen {
        name: row.try_get("name")?,
        filter: row.try_get("filter")?,
        rank_by: row.try_get("rank_by")?,
        description: row.try_get("description")?,
        created_at: time(row.try_get("created_at")?),
        updated_at: time(row.try_get("updated_at")?),
    })
}

impl LearningStore {
    /// Saves a screen under its name, replacing one of that name (its creation time is kept).
    pub async fn save_screen(
        &self,
        name: &str,
        filter: Option<&str>,
        rank_by: Option<&str>,
        description: Option<&str>,
        now: SystemTime,
    ) -> Result<Saved, StoreError> {
        check_screen_name(name)?;
        let existed = self.screen(name).await?.is_some();
        let now = unix_seconds(now);
        sqlx::query(
            "INSERT INTO screens (name, filter, rank_by, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (name) DO UPDATE SET filter = excluded.filter, rank_by = excluded.rank_by, \
             description = excluded.description, updated_at = excluded.updated_at",
        )
        .bind(name)
        .bind(filter)
        .bind(rank_by)
        .bind(description)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(query("saving a screen"))?;
        Ok(if existed {
            Saved::Updated
        } else {
            Saved::Created
        })
    }

    /// Every saved screen, by name.
    pub async fn screens(&self) -> Result<Vec<SavedScreen>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, filter, rank_by, description, created_at, updated_at FROM screens ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(query("reading screens"))?;
        rows.iter()
            .map(screen_of)
            .collect::<Result<_, _>>()
            .map_err(query("reading screens"))
    }

    pub async fn screen(&self, name: &str) -> Result<Option<SavedScreen>, StoreError> {
        check_screen_name(name)?;
        let row = sqlx::query(
            "SELECT name, filter, rank_by, description, created_at, updated_at FROM screens WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(query("reading a screen"))?;
        row.as_ref()
            .map(screen_of)
            .transpose()
            .map_err(query("reading a screen"))
    }

    /// Removes a screen; `false` if there was none of that name.
    pub async fn remove_screen(&self, name: &str) -> Result<bool, StoreError> {
        check_screen_name(name)?;
        let done = sqlx::query("DELETE FROM screens WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(query("removing a screen"))?;
        Ok(done.rows_affected() > 0)
    }
}
