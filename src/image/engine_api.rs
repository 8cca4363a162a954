//! Requests to the engine that bollard cannot make: a BuildKit build
//! (`POST /build?version=2`, whose progress arrives as protobuf in `aux`) and
//! the session a build's secrets are served over (`POST /session`, upgraded
//! to HTTP/2). One HTTP/1.1 connection per request, over the same endpoint
//! bollard uses (`unix://` or `tcp://`).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The API version requests are made in: BuildKit builds need 1.39 or newer.
pub const API_VERSION: &str = "v1.41";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("engine {endpoint}: {source}")]
    Connect {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("engine {endpoint}: unsupported endpoint (expected unix:// or tcp://)")]
    Endpoint { endpoint: String },
    #[error("engine {endpoint}: {source}")]
    Http {
        endpoint: String,
        #[source]
        source: hyper::Error,
    },
    #[error("engine {endpoint}: {path} answered {status}: {message}")]
    Status {
        endpoint: String,
        path: String,
        status: StatusCode,
        message: String,
    },
}

pub type Body = BoxBody<Bytes, std::io::Error>;

/// A byte stream to the engine, whichever transport the endpoint uses.
pub enum Stream {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

impl Stream {
    async fn connect(endpoint: &str) -> Result<Stream, ApiError> {
        let connect_error = |source| ApiError::Connect {
            endpoint: endpoint.to_string(),
            source,
        };
        if let Some(path) = endpoint.strip_prefix("unix://") {
            return tokio::net::UnixStream::connect(path)
                .await
                .map(Stream::Unix)
                .map_err(connect_error);
        }
        if let Some(address) = endpoint
            .strip_prefix("tcp://")
            .or_else(|| endpoint.strip_prefix("http://"))
        {
            let stream = tokio::net::TcpStream::connect(address.trim_end_matches('/'))
                .await
                .map_err(connect_error)?;
            let _ = stream.set_nodelay(true);
            return Ok(Stream::Tcp(stream));
        }
        Err(ApiError::Endpoint {
            endpoint: endpoint.to_string(),
        })
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A body streamed from chunks (the build context).
pub fn streamed_body(
    chunks: impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + Sync + 'static,
) -> Body {
    use futures_util::StreamExt;
    BodyExt::boxed(StreamBody::new(chunks.map(|chunk| chunk.map(Frame::data))))
}

pub fn empty_body() -> Body {
    BodyExt::boxed(Empty::new().map_err(|never| match never {}))
}

/// Sends one request on a new connection. `path_and_query` starts with `/`
/// and gets the API version prefix. The connection lives as long as the
/// response body is read; an upgrade (`/session`) keeps it afterwards.
pub async fn request(
    endpoint: &str,
    method: http::Method,
    path_and_query: &str,
    headers: &[(&str, String)],
    body: Body,
) -> Result<Response<Incoming>, ApiError> {
    let http_error = |source| ApiError::Http {
        endpoint: endpoint.to_string(),
        source,
    };
    let stream = Stream::connect(endpoint).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(http_error)?;
    tokio::spawn(async move {
        if let Err(e) = connection.with_upgrades().await {
            tracing::debug!("engine connection ended: {e}");
        }
    });
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("/{API_VERSION}{path_and_query}"))
        .header("Host", "docker");
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    let request = builder.body(body).map_err(|e| ApiError::Status {
        endpoint: endpoint.to_string(),
        path: path_and_query.to_string(),
        status: StatusCode::BAD_REQUEST,
        message: e.to_string(),
    })?;
    let response = sender.send_request(request).await.map_err(http_error)?;
    let status = response.status();
    if status.is_success() || status == StatusCode::SWITCHING_PROTOCOLS {
        return Ok(response);
    }
    // Error bodies are small JSON (`{"message": ...}`); read at most 64 KiB.
    let body = http_body_util::Limited::new(response.into_body(), 64 * 1024)
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_string());
    Err(ApiError::Status {
        endpoint: endpoint.to_string(),
        path: path_and_query
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string(),
        status,
        message,
    })
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
