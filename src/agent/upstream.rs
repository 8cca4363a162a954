//! The server's device API as the agent's [`Upstream`]: `GET
//! /api/v1/device/state` (ETag, long-poll) and `PATCH` reports, with the
//! device key.

use std::time::Duration;

use serde_json::Value;

use super::ports::{FetchError, Fetched, Upstream};

#[derive(Debug, Clone)]
pub struct HttpUpstream {
    http: reqwest::Client,
    server: String,
    device_key: String,
}

impl HttpUpstream {
    pub fn new(http: reqwest::Client, server: &str, device_key: &str) -> HttpUpstream {
        HttpUpstream {
            http,
            server: server.trim_end_matches('/').to_string(),
            device_key: device_key.to_string(),
        }
    }

    fn url(&self) -> String {
        format!("{}/api/v1/device/state", self.server)
    }
}

impl Upstream for HttpUpstream {
    async fn fetch(&self, etag: Option<&str>, wait: u64) -> Result<Option<Fetched>, FetchError> {
        let unavailable = |e: reqwest::Error| FetchError::Unavailable(e.to_string());
        let mut request = self
            .http
            .get(format!("{}?wait={wait}", self.url()))
            .bearer_auth(&self.device_key)
            .timeout(Duration::from_secs(wait + 30));
        if let Some(etag) = etag {
            request = request.header("if-none-match", etag);
        }
        let response = request.send().await.map_err(unavailable)?;
        match response.status().as_u16() {
            304 => Ok(None),
            401 => Err(FetchError::Unauthorized),
            200 => {
                let etag = response
                    .headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body: Value = response.json().await.map_err(unavailable)?;
                Ok(Some((body, etag)))
            }
            other => Err(FetchError::Unavailable(format!(
                "the server answered {other}"
            ))),
        }
    }

    async fn report(&self, body: &Value) -> Result<(), String> {
        let response = self
            .http
            .patch(self.url())
            .bearer_auth(&self.device_key)
            .json(body)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!(
                "the server refused the report ({})",
                response.status()
            ))
        }
    }
}
