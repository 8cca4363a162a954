//! `slipway git-hook pre-receive`: run by an app repository's hook inside
//! `git receive-pack`. It hands the ref updates to the service that started
//! git and prints the build as it comes (git relays it as `remote:` lines).

use std::io::{BufRead, Write};

use futures_util::StreamExt;
use slipway::service::git::hook::{HookLine, HookRequest, RefUpdate};

/// Ref updates read from git (one per pushed ref).
const MAX_UPDATES: usize = 1000;

pub(crate) fn run(stage: &str) -> anyhow::Result<u8> {
    if stage != "pre-receive" {
        eprintln!("slipway: unknown git hook `{stage}`");
        return Ok(1);
    }
    let (Ok(url), Ok(secret), Ok(app)) = (
        std::env::var("SLIPWAY_HOOK_URL"),
        std::env::var("SLIPWAY_HOOK_SECRET"),
        std::env::var("SLIPWAY_APP"),
    ) else {
        eprintln!("slipway: pushes are only accepted through slipway serve");
        return Ok(1);
    };
    let mut updates = Vec::new();
    for line in std::io::stdin().lock().lines().take(MAX_UPDATES) {
        let line = line?;
        let mut words = line.split_whitespace();
        if let (Some(old), Some(new), Some(name)) = (words.next(), words.next(), words.next()) {
            updates.push(RefUpdate {
                old: old.into(),
                new: new.into(),
                name: name.into(),
            });
        }
    }
    let request = HookRequest {
        app,
        updates,
        object_dir: std::env::var("GIT_OBJECT_DIRECTORY").ok(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let code = runtime.block_on(async move {
        let response = reqwest::Client::new()
            .post(&url)
            .bearer_auth(secret)
            .json(&request)
            .send()
            .await;
        let response = match response {
            Ok(r) if r.status().is_success() => r,
            Ok(r) => {
                let status = r.status();
                let text = r.text().await.unwrap_or_default();
                eprintln!("slipway: the service refused the push ({status}): {text}");
                return 1;
            }
            Err(e) => {
                eprintln!("slipway: reaching the service: {e}");
                return 1;
            }
        };
        let mut stream = response.bytes_stream();
        let mut pending = Vec::new();
        let mut stderr = std::io::stderr();
        while let Some(chunk) = stream.next().await {
            let Ok(chunk) = chunk else {
                eprintln!("slipway: the service stopped answering");
                return 1;
            };
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let Ok(parsed) = serde_json::from_slice::<HookLine>(&line) else {
                    continue;
                };
                if let Some(text) = parsed.line {
                    let _ = writeln!(stderr, "{}", super::safe(&text));
                    let _ = stderr.flush();
                }
                if let Some(code) = parsed.exit {
                    return code;
                }
            }
        }
        eprintln!("slipway: the service ended the build stream early");
        1
    });
    Ok(code.clamp(0, 255) as u8)
}
