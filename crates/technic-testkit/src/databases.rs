//! A PostgreSQL database of the test's own, for the stores that run on it.

/// A database created for one test on the PostgreSQL server at `TECHNIC_TEST_DATABASE_URL`
/// (default: the local server's `test` database), named uniquely, so runs in parallel never share
/// one; [`OwnDatabase::remove`] drops it at the end.
#[derive(Debug)]
pub struct OwnDatabase {
    admin: sqlx::AnyPool,
    name: String,
    url: String,
}

impl OwnDatabase {
    /// `None` when the server cannot be reached: the test says it skipped, except under
    /// `CI=true`, where that fails it.
    pub async fn create(test: &str) -> Option<Self> {
        let admin_url = std::env::var("TECHNIC_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        sqlx::any::install_default_drivers();
        let admin = match sqlx::AnyPool::connect(&admin_url).await {
            Ok(pool) => pool,
            Err(e) => {
                let message = format!("PostgreSQL is not reachable at {admin_url}: {e}");
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "CI requires PostgreSQL: {message}"
                );
                eprintln!("SKIPPED {test}: {message}");
                return None;
            }
        };
        let name = format!(
            "technic_test_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("time")
                .as_nanos()
        );
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .expect("create database");
        let url = match admin_url.rfind('/') {
            Some(slash) => format!("{}/{name}", &admin_url[..slash]),
            None => panic!("unexpected database URL {admin_url}"),
        };
        Some(Self { admin, name, url })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Drops the database, closing whatever connections the test left open.
    pub async fn remove(self) {
        sqlx::query(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .execute(&self.admin)
            .await
            .expect("drop database");
    }
}
