//! Build events as plain text lines, for `git push` (`remote:` lines) and
//! `logs?follow=true`.

use crate::pipeline::{BuildEvent, EventKind};

pub fn line(event: &BuildEvent) -> Option<String> {
    let who = match (&event.service, &event.arch) {
        (Some(service), Some(arch)) => format!("[{service} {arch}] "),
        _ => String::new(),
    };
    let message = event.message.as_deref().unwrap_or_default();
    let text = match event.kind {
        EventKind::Release => message.to_string(),
        EventKind::Started => "build started".to_string(),
        EventKind::Context => format!("context: {message}"),
        EventKind::Step => message.to_string(),
        EventKind::Log => message.to_string(),
        EventKind::Succeeded => format!("built {message}"),
        EventKind::Failed => format!("failed: {}", event.error.as_deref().unwrap_or(message)),
        EventKind::Cancelled => "cancelled".to_string(),
        EventKind::Prebuilt => message.to_string(),
        EventKind::Pushed => format!("pushed {message}"),
        EventKind::Finished => return None,
    };
    Some(format!("{who}{text}"))
}
