//! Apps and access tokens in SQLite.

use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::access::Scope;
use crate::app::App;
use crate::release::now_ms;
use crate::store::rows::{app_from, APP_COLUMNS};
use crate::store::{AppStore, StoreError, TokenStore};

fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::ConstraintViolation
    )
}

impl AppStore for SqliteStore {
    fn create_app(&mut self, app: &App) -> Result<(), StoreError> {
        let inserted = self.conn.execute(
            "INSERT INTO apps (name, device_types, created_at_ms) VALUES (?1, ?2, ?3)",
            params![
                app.name,
                serde_json::to_string(&app.device_types).unwrap_or_default(),
                app.created_at_ms
            ],
        );
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Exists {
                what: "app",
                name: app.name.clone(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    fn app(&self, name: &str) -> Result<Option<App>, StoreError> {
        let sql = format!("SELECT {APP_COLUMNS} FROM apps WHERE name = ?1");
        self.conn
            .query_row(&sql, params![name], |row| Ok(app_from(row)))
            .optional()?
            .transpose()
    }

    fn apps(&self) -> Result<Vec<App>, StoreError> {
        let sql = format!("SELECT {APP_COLUMNS} FROM apps ORDER BY name");
        let mut statement = self.conn.prepare(&sql)?;
        let rows = statement.query_map([], |row| Ok(app_from(row)))?;
        let mut apps = Vec::new();
        for row in rows {
            apps.push(row??);
        }
        Ok(apps)
    }

    fn set_webhook_secret(&mut self, app: &str, secret: &str) -> Result<(), StoreError> {
        let changed = self.conn.execute(
            "UPDATE apps SET webhook_secret = ?2 WHERE name = ?1",
            params![app, secret],
        )?;
        if changed == 0 {
            return Err(StoreError::NoApp(app.to_string()));
        }
        Ok(())
    }

    fn set_fleet_target(
        &mut self,
        app: &str,
        release: Option<i64>,
        track_latest: bool,
    ) -> Result<(), StoreError> {
        let changed = self.conn.execute(
            "UPDATE apps SET target_release = ?2, track_latest = ?3 WHERE name = ?1",
            params![app, release, track_latest as i64],
        )?;
        if changed == 0 {
            return Err(StoreError::NoApp(app.to_string()));
        }
        Ok(())
    }

    fn webhook_secret(&self, app: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT webhook_secret FROM apps WHERE name = ?1",
                params![app],
                |row| row.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
    }
}

impl TokenStore for SqliteStore {
    fn add_token(&mut self, hash: &str, scope: &Scope) -> Result<(), StoreError> {
        let (kind, app) = match scope {
            Scope::Admin => ("admin", None),
            Scope::App(app) => ("app", Some(app.as_str())),
        };
        self.conn.execute(
            "INSERT INTO tokens (token_hash, scope, app, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![hash, kind, app, now_ms()],
        )?;
        Ok(())
    }

    fn token_scope(&self, hash: &str) -> Result<Option<Scope>, StoreError> {
        let found: Option<(String, String, Option<String>)> = self
            .conn
            .query_row(
                "SELECT token_hash, scope, app FROM tokens WHERE token_hash = ?1",
                params![hash],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .optional()?;
        let Some((stored, kind, app)) = found else {
            return Ok(None);
        };
        // The index found it; confirm without an early-exit comparison.
        if !crate::access::same_secret(stored.as_bytes(), hash.as_bytes()) {
            return Ok(None);
        }
        Ok(match (kind.as_str(), app) {
            ("admin", _) => Some(Scope::Admin),
            ("app", Some(app)) => Some(Scope::App(app)),
            _ => None,
        })
    }

    fn has_admin_token(&self) -> Result<bool, StoreError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM tokens WHERE scope = 'admin')",
            [],
            |row| row.get(0),
        )?)
    }
}
