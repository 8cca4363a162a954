//! Apps and access tokens in PostgreSQL.

use postgres::error::SqlState;

use super::{Change, PgStore};
use crate::access::Scope;
use crate::app::App;
use crate::release::now_ms;
use crate::store::rows::{app_from, APP_COLUMNS};
use crate::store::{AppStore, StoreError, TokenStore};

impl AppStore for PgStore {
    fn create_app(&mut self, app: &App) -> Result<(), StoreError> {
        let inserted = self.db()?.execute(
            "INSERT INTO apps (name, device_types, created_at_ms) VALUES ($1, $2, $3)",
            &[
                &app.name,
                &serde_json::to_string(&app.device_types).unwrap_or_default(),
                &app.created_at_ms,
            ],
        );
        match inserted {
            Ok(_) => self.notify(Change::Fleet),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Err(StoreError::Exists {
                what: "app",
                name: app.name.clone(),
            }),
            Err(e) => Err(e.into()),
        }
    }

    fn app(&self, name: &str) -> Result<Option<App>, StoreError> {
        let sql = format!("SELECT {APP_COLUMNS} FROM apps WHERE name = $1");
        let row = self.read(|client| client.query_opt(&sql, &[&name]))?;
        row.as_ref().map(|row| app_from(row)).transpose()
    }

    fn apps(&self) -> Result<Vec<App>, StoreError> {
        let sql = format!("SELECT {APP_COLUMNS} FROM apps ORDER BY name");
        let rows = self.read(|client| client.query(&sql, &[]))?;
        rows.iter().map(|row| app_from(row)).collect()
    }

    fn set_webhook_secret(&mut self, app: &str, secret: &str) -> Result<(), StoreError> {
        let changed = self.db()?.execute(
            "UPDATE apps SET webhook_secret = $2 WHERE name = $1",
            &[&app, &secret],
        )?;
        if changed == 0 {
            return Err(StoreError::NoApp(app.to_string()));
        }
        Ok(())
    }

    fn webhook_secret(&self, app: &str) -> Result<Option<String>, StoreError> {
        let row = self.read(|client| {
            client.query_opt("SELECT webhook_secret FROM apps WHERE name = $1", &[&app])
        })?;
        Ok(match row {
            Some(row) => row.try_get(0)?,
            None => None,
        })
    }

    fn set_fleet_target(
        &mut self,
        app: &str,
        release: Option<i64>,
        track_latest: bool,
    ) -> Result<(), StoreError> {
        let changed = self.db()?.execute(
            "UPDATE apps SET target_release = $2, track_latest = $3 WHERE name = $1",
            &[&app, &release, &track_latest],
        )?;
        if changed == 0 {
            return Err(StoreError::NoApp(app.to_string()));
        }
        self.notify(Change::Fleet)
    }
}

impl TokenStore for PgStore {
    fn add_token(&mut self, hash: &str, scope: &Scope) -> Result<(), StoreError> {
        let (kind, app) = match scope {
            Scope::Admin => ("admin", None),
            Scope::App(app) => ("app", Some(app.as_str())),
        };
        self.db()?.execute(
            "INSERT INTO tokens (token_hash, scope, app, created_at_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (token_hash) DO NOTHING",
            &[&hash, &kind, &app, &now_ms()],
        )?;
        Ok(())
    }

    fn token_scope(&self, hash: &str) -> Result<Option<Scope>, StoreError> {
        let rows = self.query_prepared(
            "SELECT token_hash, scope, app FROM tokens WHERE token_hash = $1",
            &[&hash],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let (stored, kind, app): (String, String, Option<String>) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
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
        let row = self.read(|client| {
            client.query_one(
                "SELECT EXISTS (SELECT 1 FROM tokens WHERE scope = 'admin')",
                &[],
            )
        })?;
        Ok(row.try_get(0)?)
    }
}
