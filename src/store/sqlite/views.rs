//! Saved release views in SQLite.

use rusqlite::params;

use super::SqliteStore;
use crate::release::now_ms;
use crate::store::rows::{view_from, VIEW_COLUMNS};
use crate::store::{SavedView, StoreError, ViewStore};

impl ViewStore for SqliteStore {
    fn save_view(
        &mut self,
        name: &str,
        filter: &serde_json::Value,
    ) -> Result<SavedView, StoreError> {
        let now = now_ms();
        // Saving a view under an existing name replaces its filter.
        self.conn.execute(
            "INSERT INTO views (name, filter, created_at_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET filter = excluded.filter",
            params![name, filter.to_string(), now],
        )?;
        let id = self.conn.query_row(
            "SELECT id FROM views WHERE name = ?1",
            params![name],
            |row| row.get(0),
        )?;
        Ok(SavedView {
            id,
            name: name.to_string(),
            filter: filter.clone(),
            created_at_ms: now,
        })
    }

    fn views(&self) -> Result<Vec<SavedView>, StoreError> {
        let sql = format!("SELECT {VIEW_COLUMNS} FROM views ORDER BY name");
        let mut statement = self.conn.prepare(&sql)?;
        let rows = statement.query_map([], |row| Ok(view_from(row)))?;
        let mut views = Vec::new();
        for row in rows {
            views.push(row??);
        }
        Ok(views)
    }

    fn delete_view(&mut self, id: i64) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM views WHERE id = ?1", params![id])?
            > 0)
    }
}
