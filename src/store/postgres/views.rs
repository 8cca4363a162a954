//! Saved release views in PostgreSQL.

use super::PgStore;
use crate::release::now_ms;
use crate::store::rows::{view_from, VIEW_COLUMNS};
use crate::store::{SavedView, StoreError, ViewStore};

impl ViewStore for PgStore {
    fn save_view(
        &mut self,
        name: &str,
        filter: &serde_json::Value,
    ) -> Result<SavedView, StoreError> {
        let now = now_ms();
        // Saving a view under an existing name replaces its filter.
        let row = self.db()?.query_one(
            "INSERT INTO views (name, filter, created_at_ms) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET filter = excluded.filter
             RETURNING id",
            &[&name, &filter.to_string(), &now],
        )?;
        Ok(SavedView {
            id: row.try_get(0)?,
            name: name.to_string(),
            filter: filter.clone(),
            created_at_ms: now,
        })
    }

    fn views(&self) -> Result<Vec<SavedView>, StoreError> {
        let sql = format!("SELECT {VIEW_COLUMNS} FROM views ORDER BY name");
        let rows = self.read(|client| client.query(&sql, &[]))?;
        rows.iter().map(|row| view_from(row)).collect()
    }

    fn delete_view(&mut self, id: i64) -> Result<bool, StoreError> {
        Ok(self
            .db()?
            .execute("DELETE FROM views WHERE id = $1", &[&id])?
            > 0)
    }
}
