//! The release list's SQL, built from the filter's present conditions only:
//! `app = ? AND status = ?` lets the database use its indexes, where one
//! fixed statement of `(? IS NULL OR app = ?)` terms scans the table.

use crate::release::{ReleaseFilter, Status};

/// One bound value of the query.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Int(i64),
}

/// The `WHERE ... ORDER BY ... LIMIT ...` tail for `filter` and its values;
/// `placeholder(n)` spells the n-th (from 1) parameter (`?n`, `$n`).
pub fn list_tail(
    filter: &ReleaseFilter,
    placeholder: impl Fn(usize) -> String,
) -> (String, Vec<Param>) {
    let mut terms = Vec::new();
    let mut params = Vec::new();
    let mut term = |template: &str, param: Param| {
        params.push(param);
        terms.push(template.replace('?', &placeholder(params.len())));
    };
    if let Some(app) = &filter.app {
        term("app = ?", Param::Text(app.clone()));
    }
    if let Some(status) = filter.status {
        term(
            "status = ?",
            Param::Text(Status::as_str(status).to_string()),
        );
    }
    if let Some(commit) = &filter.commit {
        term(
            "commit_sha LIKE ? || '%' ESCAPE '\\'",
            Param::Text(like_literal(commit)),
        );
    }
    if let Some(device_type) = &filter.device_type {
        term(
            "device_types LIKE '%\"' || ? || '\"%' ESCAPE '\\'",
            Param::Text(like_literal(device_type)),
        );
    }
    if let Some(since) = filter.since_ms {
        term("started_at_ms >= ?", Param::Int(since));
    }
    if let Some(until) = filter.until_ms {
        term("started_at_ms < ?", Param::Int(until));
    }
    if let Some(before) = filter.before_id {
        term("id < ?", Param::Int(before));
    }
    let mut sql = String::new();
    if !terms.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&terms.join(" AND "));
    }
    sql.push_str(" ORDER BY id DESC");
    if let Some(limit) = filter.limit {
        params.push(Param::Int(i64::from(limit)));
        sql.push_str(&format!(" LIMIT {}", placeholder(params.len())));
    }
    (sql, params)
}

/// `text` matched literally by LIKE (with `ESCAPE '\'`): its wildcards escaped.
fn like_literal(text: &str) -> String {
    let mut literal = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            literal.push('\\');
        }
        literal.push(c);
    }
    literal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_present_conditions_are_in_the_query() {
        let filter = ReleaseFilter {
            app: Some("fleet".into()),
            status: Some(Status::Failed),
            limit: Some(50),
            ..Default::default()
        };
        let (sql, params) = list_tail(&filter, |n| format!("${n}"));
        assert_eq!(
            sql,
            " WHERE app = $1 AND status = $2 ORDER BY id DESC LIMIT $3"
        );
        assert_eq!(
            params,
            [
                Param::Text("fleet".into()),
                Param::Text("failed".into()),
                Param::Int(50)
            ]
        );
        let (sql, params) = list_tail(&ReleaseFilter::default(), |n| format!("?{n}"));
        assert_eq!(sql, " ORDER BY id DESC");
        assert!(params.is_empty());
    }

    #[test]
    fn like_wildcards_are_escaped() {
        let filter = ReleaseFilter {
            commit: Some("ab%_c".into()),
            ..Default::default()
        };
        let (sql, params) = list_tail(&filter, |n| format!("?{n}"));
        assert_eq!(
            sql,
            " WHERE commit_sha LIKE ?1 || '%' ESCAPE '\\' ORDER BY id DESC"
        );
        assert_eq!(params, [Param::Text("ab\\%\\_c".into())]);
    }
}
