//! Stored build events in SQLite.

use rusqlite::params;

use super::SqliteStore;
use crate::store::{BuildLogStore, StoreError};

impl BuildLogStore for SqliteStore {
    fn append_build_events(
        &mut self,
        release: i64,
        first_seq: i64,
        events: &[String],
    ) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO build_events (release_id, seq, event) VALUES (?1, ?2, ?3)",
            )?;
            for (seq, event) in (first_seq..).zip(events) {
                insert.execute(params![release, seq, event])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn build_events(
        &self,
        release: i64,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT seq, event FROM build_events WHERE release_id = ?1 AND seq > ?2
             ORDER BY seq LIMIT ?3",
        )?;
        let rows = statement.query_map(params![release, after_seq, limit], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
