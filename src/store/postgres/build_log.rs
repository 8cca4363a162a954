//! Stored build events in PostgreSQL; each append announces itself so
//! watchers on other replicas read at once instead of on their next poll.

use super::{Change, PgStore};
use crate::store::{BuildLogStore, StoreError};

impl BuildLogStore for PgStore {
    fn append_build_events(
        &mut self,
        release: i64,
        first_seq: i64,
        events: &[String],
    ) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let seqs: Vec<i64> = (first_seq..).take(events.len()).collect();
        let mut client = self.db()?;
        let mut tx = client.transaction()?;
        tx.execute(
            "INSERT INTO build_events (release_id, seq, event)
             SELECT $1, * FROM UNNEST($2::BIGINT[], $3::TEXT[])",
            &[&release, &seqs, &events],
        )?;
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&super::CHANNEL, &Change::Log(release).payload()],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn build_events(
        &self,
        release: i64,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = self.query_prepared(
            "SELECT seq, event FROM build_events WHERE release_id = $1 AND seq > $2
             ORDER BY seq LIMIT $3",
            &[&release, &after_seq, &i64::from(limit)],
        )?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    }
}
