//! What the API clients among the commands share: where the service is, the
//! token, one call at a time with the service's problem text on failure.

use clap::Args;
use serde_json::Value;

use super::safe;

#[derive(Args, Clone)]
pub(crate) struct ServerArgs {
    /// The service's URL, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "SLIPWAY_SERVER", value_name = "URL", global = true)]
    pub server: Option<String>,
    /// An admin or deploy token.
    #[arg(
        long,
        env = "SLIPWAY_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<String>,
}

/// The service said no: its status and problem detail.
#[derive(Debug, thiserror::Error)]
#[error("{method} {path}: {status}: {detail}")]
pub(crate) struct Refused {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub detail: String,
}

pub(crate) struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl Client {
    pub(crate) fn new(args: &ServerArgs) -> anyhow::Result<Client> {
        let base = args.server.clone().ok_or_else(|| {
            anyhow::anyhow!("no service: pass --server URL or set SLIPWAY_SERVER")
        })?;
        let token = args
            .token
            .clone()
            .ok_or_else(|| anyhow::anyhow!("no token: pass --token or set SLIPWAY_TOKEN"))?;
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            token,
            http: reqwest::Client::new(),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
        })
    }

    pub(crate) fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        self.runtime.block_on(async {
            let mut request = self
                .http
                .request(method.clone(), format!("{}/api/v1{path}", self.base))
                .bearer_auth(&self.token);
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("reaching {}: {e}", self.base))?;
            let status = response.status();
            let value: Value = if status == reqwest::StatusCode::NO_CONTENT {
                Value::Null
            } else {
                response.json().await.unwrap_or(Value::Null)
            };
            if !status.is_success() {
                return Err(Refused {
                    method: method.to_string(),
                    path: path.to_string(),
                    status: status.as_u16(),
                    detail: safe(value["detail"].as_str().unwrap_or("(no detail)")).into_owned(),
                }
                .into());
            }
            Ok(value)
        })
    }

    pub(crate) fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, None)
    }

    pub(crate) fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path, Some(body))
    }

    pub(crate) fn put(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::PUT, path, Some(body))
    }
}

/// `KEY=VALUE` (or `KEY:VALUE`) pairs into a JSON object.
pub(crate) fn pairs(items: &[String]) -> anyhow::Result<serde_json::Map<String, Value>> {
    let mut map = serde_json::Map::new();
    for item in items {
        let (key, value) = item
            .split_once('=')
            .or_else(|| item.split_once(':'))
            .ok_or_else(|| anyhow::anyhow!("`{item}`: expected KEY=VALUE"))?;
        map.insert(key.to_string(), Value::String(value.to_string()));
    }
    Ok(map)
}

/// Exit code of a failed call: 2 for what the service refused as bad input.
pub(crate) fn exit_code(error: &anyhow::Error) -> u8 {
    match error.downcast_ref::<Refused>() {
        Some(refused) if (400..500).contains(&refused.status) => super::exit::USAGE,
        _ => super::exit::FAILURE,
    }
}
