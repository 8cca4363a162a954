//! `slipway push APP [PATH]`: uploads a project (as tar, `.dockerignore`
//! applied, streamed from disk) to a Slipway service, which builds it; the
//! build streams back and the exit code is `slipway build`'s.

use std::path::PathBuf;

use clap::Args;
use futures_util::StreamExt;

use super::progress::HumanProgress;
use super::{exit, safe};
use slipway::image::context::BuildContext;
use slipway::image::BuildEvent;

#[derive(Args)]
pub(crate) struct PushArgs {
    /// The app to deploy (with --local: the project directory).
    #[arg(value_name = "APP", required_unless_present = "device")]
    app: Option<String>,
    /// The project directory.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// The service's URL, e.g. http://127.0.0.1:8080.
    #[arg(
        long,
        env = "SLIPWAY_SERVER",
        value_name = "URL",
        required_unless_present = "device"
    )]
    server: Option<String>,
    /// An admin or deploy token for the app.
    #[arg(
        long,
        env = "SLIPWAY_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        required_unless_present = "device"
    )]
    token: Option<String>,
    /// Print the service's newline-delimited JSON events as they come.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    local: super::push_local::LocalArgs,
}

pub(crate) fn run(args: PushArgs) -> anyhow::Result<u8> {
    if let Some(device) = args.local.device.clone() {
        // `slipway push --local HOST:PORT [PATH]`: the one positional is the path.
        let path = if args.path.as_os_str() == "." {
            PathBuf::from(args.app.as_deref().unwrap_or("."))
        } else {
            eprintln!("error: with --local, give only the project directory");
            return Ok(exit::USAGE);
        };
        return super::push_local::run(&device, path, args.local);
    }
    let (server, token) = (
        args.server.clone().unwrap_or_default(),
        args.token.clone().unwrap_or_default(),
    );
    let app = args.app.clone().unwrap_or_default();
    if slipway::app::check_name(&app).is_err() {
        eprintln!("error: app `{}`: not a valid app name", safe(&app));
        return Ok(exit::USAGE);
    }
    let context = match BuildContext::project_upload(&args.path, &args.path.display().to_string()) {
        Ok(context) => context,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    let url = format!(
        "{}/api/v1/apps/{}/releases",
        server.trim_end_matches('/'),
        app
    );
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let (chunks, walked) = context.stream();
        let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(
            chunks,
            |mut chunks| async move { chunks.recv().await.map(|chunk| (chunk, chunks)) },
        ));
        let response = reqwest::Client::new()
            .post(&url)
            .bearer_auth(&token)
            .header(reqwest::header::CONTENT_TYPE, "application/x-tar")
            .body(body)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(e) => {
                let reason = match walked.await {
                    Ok(Err(walk)) => walk.to_string(),
                    _ => e.to_string(),
                };
                eprintln!("error: uploading to {url}: {reason}");
                return Ok(exit::FAILURE);
            }
        };
        if !response.status().is_success() {
            let status = response.status();
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            let detail = body["detail"].as_str().unwrap_or("(no detail)");
            eprintln!(
                "error: the service refused the upload ({status}): {}",
                safe(detail)
            );
            return Ok(if status.is_client_error() {
                exit::USAGE
            } else {
                exit::FAILURE
            });
        }
        let mut human = (!args.json).then(HumanProgress::new);
        let mut stream = response.bytes_stream();
        let mut pending = Vec::new();
        let mut code = None;
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    eprintln!("error: the build stream broke off: {e}");
                    return Ok(exit::FAILURE);
                }
            };
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line);
                if text.trim().is_empty() {
                    continue; // keepalive
                }
                if args.json {
                    super::emit(&text);
                }
                let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
                    continue;
                };
                if value["kind"] == "summary" {
                    code = Some(summary(&value, args.json));
                } else if let (Some(human), Ok(event)) =
                    (&mut human, serde_json::from_value::<BuildEvent>(value))
                {
                    human.event(&event);
                }
            }
        }
        Ok(code.unwrap_or_else(|| {
            eprintln!("error: the build stream ended without a summary");
            exit::FAILURE
        }))
    })
}

/// Prints the closing summary (human mode) and returns the exit code.
fn summary(value: &serde_json::Value, json: bool) -> u8 {
    let release = &value["release"];
    let status = release["status"].as_str().unwrap_or("unknown");
    if !json {
        let mut out = format!(
            "\nrelease {} of {}: {status}\n",
            release["id"],
            release["app"].as_str().unwrap_or("?")
        );
        for image in value["images"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "  {} {} {} {}\n",
                image["service"].as_str().unwrap_or("?"),
                image["arch"].as_str().unwrap_or("?"),
                image["status"].as_str().unwrap_or("?"),
                image["registry_reference"]
                    .as_str()
                    .or(image["image"].as_str())
                    .unwrap_or("")
            ));
        }
        super::emit(&out);
        if let Some(error) = release["error"].as_str() {
            eprintln!(
                "error: release {} {status}:\n{}",
                release["id"],
                safe(error)
            );
        }
    }
    match status {
        "success" => exit::OK,
        "cancelled" => exit::CANCELLED,
        _ => exit::BUILD_FAILED,
    }
}
