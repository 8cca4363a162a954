//! A rollout as both backends keep it: a row of scalar columns and its
//! plan (selector, phases, thresholds) as one JSON column.

use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::rollout::{Phase, Rollout, RolloutState, Selector};

/// What of a rollout is stored as one JSON column.
#[derive(Serialize, Deserialize)]
pub struct RolloutPlan {
    selector: Selector,
    phases: Vec<Phase>,
    error_threshold: u8,
    min_finished: u32,
    max_per_minute: Option<u32>,
}

/// The scalar columns of a stored rollout.
pub struct RolloutRow {
    pub id: i64,
    pub app: String,
    pub release_id: i64,
    pub state: String,
    pub current_phase: i64,
    pub phase_started_at_ms: i64,
    pub created_at_ms: i64,
    pub reason: Option<String>,
}

/// The plan column of `rollout`.
pub fn rollout_plan(rollout: &Rollout) -> String {
    serde_json::to_string(&RolloutPlan {
        selector: rollout.selector.clone(),
        phases: rollout.phases.clone(),
        error_threshold: rollout.error_threshold,
        min_finished: rollout.min_finished,
        max_per_minute: rollout.max_per_minute,
    })
    .unwrap_or_default()
}

/// A rollout from its stored row and plan column.
pub fn rollout_from(row: RolloutRow, plan: &str) -> Result<Rollout, StoreError> {
    let parsed: RolloutPlan = serde_json::from_str(plan).map_err(|_| StoreError::Corrupt {
        field: "rollout plan",
        value: plan.to_string(),
    })?;
    let state = RolloutState::parse(&row.state).ok_or(StoreError::Corrupt {
        field: "rollout state",
        value: row.state.clone(),
    })?;
    Ok(Rollout {
        id: row.id,
        app: row.app,
        release_id: row.release_id,
        selector: parsed.selector,
        phases: parsed.phases,
        error_threshold: parsed.error_threshold,
        min_finished: parsed.min_finished,
        max_per_minute: parsed.max_per_minute,
        state,
        current_phase: row.current_phase.max(0) as usize,
        phase_started_at_ms: row.phase_started_at_ms,
        created_at_ms: row.created_at_ms,
        reason: row.reason,
    })
}
