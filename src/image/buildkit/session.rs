//! A BuildKit session serving one build's secrets.
//!
//! The engine reaches back to the client for secrets: the client opens
//! `POST /session` (upgraded to HTTP/2), names the gRPC methods it serves,
//! and the build request names the session. The engine then calls
//! `moby.buildkit.secrets.v1.Secrets/GetSecret` over that connection when a
//! `RUN --mount=type=secret` step runs, and `grpc.health.v1.Health/Check`
//! to keep the session alive. Only those two methods exist here; secrets
//! never touch the disk, a layer, or the record.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use hyper_util::rt::TokioIo;
use prost::Message;

use super::super::engine_api::{self, ApiError};
use crate::plan::jobs::SecretValue;

const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";
const GET_SECRET: &str = "/moby.buildkit.secrets.v1.Secrets/GetSecret";
/// gRPC requests from the engine are tiny; anything bigger is refused.
const MAX_REQUEST: usize = 64 * 1024;

#[derive(Clone, PartialEq, Message)]
struct GetSecretRequest {
    #[prost(string, tag = "1")]
    id: String,
}

#[derive(Clone, PartialEq, Message)]
struct GetSecretResponse {
    #[prost(bytes = "vec", tag = "1")]
    data: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct HealthCheckResponse {
    /// 1 = SERVING.
    #[prost(int32, tag = "1")]
    status: i32,
}

/// A running session; dropping it closes the connection.
pub struct Session {
    pub id: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Opens a session on `endpoint` serving `secrets`.
pub async fn start(
    endpoint: &str,
    secrets: BTreeMap<String, SecretValue>,
) -> Result<Session, ApiError> {
    let id = random_id();
    let methods = [HEALTH_CHECK, GET_SECRET];
    let mut headers = vec![
        ("Upgrade", "h2c".to_string()),
        ("Connection", "Upgrade".to_string()),
        ("X-Docker-Expose-Session-Uuid", id.clone()),
        ("X-Docker-Expose-Session-Name", "slipway".to_string()),
        ("X-Docker-Expose-Session-Sharedkey", random_id()),
    ];
    for method in methods {
        headers.push(("X-Docker-Expose-Session-Grpc-Method", method.to_string()));
    }
    let response = engine_api::request(
        endpoint,
        http::Method::POST,
        "/session",
        &headers,
        engine_api::empty_body(),
    )
    .await?;
    let upgraded = hyper::upgrade::on(response)
        .await
        .map_err(|source| ApiError::Http {
            endpoint: endpoint.to_string(),
            source,
        })?;
    let secrets = Arc::new(secrets);
    let task = tokio::spawn(async move {
        let mut connection = match h2::server::handshake(TokioIo::new(upgraded)).await {
            Ok(connection) => connection,
            Err(e) => {
                tracing::warn!("build session: HTTP/2 handshake failed: {e}");
                return;
            }
        };
        while let Some(accepted) = connection.accept().await {
            let Ok((request, respond)) = accepted else {
                break;
            };
            let secrets = secrets.clone();
            tokio::spawn(async move {
                if let Err(e) = serve(request, respond, &secrets).await {
                    tracing::debug!("build session call: {e}");
                }
            });
        }
    });
    Ok(Session { id, task })
}

async fn serve(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    secrets: &BTreeMap<String, SecretValue>,
) -> Result<(), h2::Error> {
    let path = request.uri().path().to_string();
    let message = read_message(request.into_body()).await?;
    let answer: Result<Vec<u8>, (u32, String)> = match (path.as_str(), message) {
        (HEALTH_CHECK, _) => Ok(HealthCheckResponse { status: 1 }.encode_to_vec()),
        (GET_SECRET, Some(message)) => match GetSecretRequest::decode(message) {
            Ok(asked) => match secrets.get(&asked.id) {
                Some(value) => {
                    tracing::debug!(id = asked.id, "build secret handed to the engine");
                    Ok(GetSecretResponse {
                        data: value.0.clone(),
                    }
                    .encode_to_vec())
                }
                // 5 = NOT_FOUND: an optional secret mount is skipped, a required one fails.
                None => Err((5, format!("no build secret `{}`", asked.id))),
            },
            Err(_) => Err((3, "malformed request".into())),
        },
        (GET_SECRET, None) => Err((3, "request too large or empty".into())),
        // 12 = UNIMPLEMENTED.
        _ => Err((12, format!("{path} is not served"))),
    };
    let headers = http::Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .body(())
        .unwrap_or_default();
    match answer {
        Ok(message) => {
            let mut stream = respond.send_response(headers, false)?;
            let mut frame = BytesMut::with_capacity(5 + message.len());
            frame.extend_from_slice(&[0]);
            frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
            frame.extend_from_slice(&message);
            stream.send_data(frame.freeze(), false)?;
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
            stream.send_trailers(trailers)?;
        }
        Err((code, text)) => {
            let mut response = headers;
            response
                .headers_mut()
                .insert("grpc-status", http::HeaderValue::from(code));
            if let Ok(value) = http::HeaderValue::from_str(&text) {
                response.headers_mut().insert("grpc-message", value);
            }
            respond.send_response(response, true)?;
        }
    }
    Ok(())
}

/// The first gRPC message of a request body (5-byte header, then the
/// message); `None` when the body is empty, compressed or too large.
async fn read_message(mut body: h2::RecvStream) -> Result<Option<Bytes>, h2::Error> {
    let mut buffer = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        buffer.extend_from_slice(&chunk);
        if buffer.len() > MAX_REQUEST {
            return Ok(None);
        }
    }
    if buffer.len() < 5 || buffer[0] != 0 {
        return Ok(None);
    }
    let mut header = &buffer[1..5];
    let length = header.get_u32() as usize;
    if buffer.len() < 5 + length {
        return Ok(None);
    }
    Ok(Some(buffer.freeze().slice(5..5 + length)))
}

/// 128 random bits as hex, for session ids and shared keys.
fn random_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No entropy source: time and pid still keep concurrent ids apart.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        bytes = (now ^ ((std::process::id() as u128) << 64)).to_le_bytes();
    }
    hex::encode(bytes)
}
