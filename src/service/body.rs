//! Request bodies read with a cap and parsed with errors that name the field.

use axum::body::Body;
use axum::http::StatusCode;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use crate::service::error::ApiError;

/// Reads at most `limit` bytes of `body`.
pub async fn read_capped(body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let limited = http_body_util::Limited::new(body, limit);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the request body is larger than {limit} bytes"),
        )),
        Err(error) => Err(ApiError::bad_request(
            "bad_body",
            format!("reading the request body: {error}"),
        )),
    }
}

/// A JSON body of at most `limit` bytes, parsed into `T`.
pub async fn json<T: DeserializeOwned>(body: Body, limit: usize) -> Result<T, ApiError> {
    let bytes = read_capped(body, limit).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(
            "bad_json",
            format!("the request body is not valid JSON for this call: {e}"),
        )
    })
}
