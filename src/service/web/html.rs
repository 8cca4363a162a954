//! HTML by hand: escaping, the page frame, small formatting helpers. No
//! template engine, no external assets: the binary serves everything.

use std::fmt::Write;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// Text made safe for HTML content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A query-string component.
pub fn url_part(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Who the page is for: signed in (with the form token) or not.
pub struct Frame<'a> {
    pub title: &'a str,
    /// The CSRF token of the session, when signed in.
    pub csrf: Option<&'a str>,
}

/// A whole page around `body`.
pub fn page(frame: &Frame, body: &str) -> Html<String> {
    let nav = match frame.csrf {
        Some(csrf) => format!(
            r#"<nav aria-label="Main"><a href="/releases">Releases</a><a href="/apps">Fleets</a>
<form method="post" action="/signout" class="inline"><input type="hidden" name="csrf" value="{}"><button type="submit" class="link">Sign out</button></form></nav>"#,
            esc(csrf)
        ),
        None => String::new(),
    };
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Slipway</title>
<link rel="stylesheet" href="/static/app.css">
<script src="/static/app.js" defer></script>
</head><body>
<header><a href="/releases" class="brand">Slipway</a>{nav}</header>
<main id="main">
<h1>{title}</h1>
{body}
</main></body></html>
"#,
        title = esc(frame.title),
    ))
}

/// An error page (a bad filter, a release that does not exist).
pub fn error_page(status: StatusCode, frame: &Frame, message: &str) -> Response {
    let body = format!(r#"<p class="error" role="alert">{}</p>"#, esc(message));
    (status, page(frame, &body)).into_response()
}

/// A hidden CSRF field for a form.
pub fn csrf_field(csrf: &str) -> String {
    format!(r#"<input type="hidden" name="csrf" value="{}">"#, esc(csrf))
}

/// `2026-11-25 10:04:05 UTC`.
pub fn time(ms: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    let text = humantime::format_rfc3339_seconds(at).to_string();
    text.replace('T', " ").replace('Z', " UTC")
}

/// `1m 05s`, `4.2s`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{}m {:02}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// `12.3 MB`.
pub fn bytes(n: i64) -> String {
    crate::image::human_bytes(n.max(0) as u64)
}

/// A release's or image's build status: `running` is a build under way.
pub fn build_badge(status: &str) -> String {
    if status == "running" {
        return r#"<span class="badge s-active"><span aria-hidden="true">↻</span> building</span>"#
            .into();
    }
    status_badge(status)
}

/// The icon and class of a status (colour is never the only signal).
pub fn status_badge(status: &str) -> String {
    let icon = match status {
        "success" | "running" | "completed" | "online" => "✔",
        "failed" | "interrupted" => "✖",
        "cancelled" | "stopped" | "offline" => "■",
        "queued" | "waiting" | "paused" | "idle" => "⏸",
        _ => "↻",
    };
    format!(
        r#"<span class="badge s-{class}"><span aria-hidden="true">{icon}</span> {text}</span>"#,
        class = esc(status),
        text = esc(status)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(url_part("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(duration(4_200), "4.2s");
        assert_eq!(duration(65_000), "1m 05s");
    }
}
