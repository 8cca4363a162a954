//! BuildKit's progress: `moby.buildkit.trace` messages carry a base64
//! protobuf `StatusResponse` (moby/buildkit `api/services/control`). Only the
//! fields Slipway shows are declared; protobuf skips the others.
//!
//! [`Trace`] turns the updates into plain log lines the way
//! `--progress=plain` does: `#3 [build 2/4] RUN make`, the step's output as
//! `#3 ...`, then `#3 DONE 1.2s`, `#3 CACHED` or `#3 ERROR: ...`.

use std::collections::HashMap;

use base64::Engine as _;
use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub struct StatusResponse {
    #[prost(message, repeated, tag = "1")]
    pub vertexes: Vec<Vertex>,
    #[prost(message, repeated, tag = "3")]
    pub logs: Vec<VertexLog>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Vertex {
    #[prost(string, tag = "1")]
    pub digest: String,
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(bool, tag = "4")]
    pub cached: bool,
    #[prost(message, optional, tag = "5")]
    pub started: Option<Timestamp>,
    #[prost(message, optional, tag = "6")]
    pub completed: Option<Timestamp>,
    #[prost(string, tag = "7")]
    pub error: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct VertexLog {
    #[prost(string, tag = "1")]
    pub vertex: String,
    #[prost(bytes = "vec", tag = "4")]
    pub msg: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    fn seconds_f64(self) -> f64 {
        self.seconds as f64 + self.nanos as f64 / 1e9
    }
}

/// Decodes the `aux` of a `moby.buildkit.trace` message.
pub fn decode(aux_base64: &str) -> Option<StatusResponse> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(aux_base64)
        .ok()?;
    StatusResponse::decode(bytes.as_slice()).ok()
}

/// A line of progress, with the step it belongs to when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLine {
    pub text: String,
    /// `[build 2/4]` -> `build 2/4`; `None` for internal vertexes.
    pub step: Option<String>,
    /// The line opens a step (the vertex's first appearance).
    pub starts_step: bool,
}

/// The state of one build's progress.
#[derive(Default)]
pub struct Trace {
    /// Vertex digest -> its number (order of first appearance) and name.
    numbers: HashMap<String, (usize, String)>,
    started: HashMap<String, bool>,
    finished: HashMap<String, bool>,
    /// Partial log lines per vertex (output arrives in arbitrary chunks).
    partial: HashMap<String, String>,
    /// The first vertex that failed: its name and error.
    pub failed: Option<(String, String)>,
}

impl Trace {
    /// The lines an update adds.
    pub fn update(&mut self, status: StatusResponse) -> Vec<TraceLine> {
        let mut lines = Vec::new();
        for vertex in status.vertexes {
            let next = self.numbers.len() + 1;
            let (number, name) = self
                .numbers
                .entry(vertex.digest.clone())
                .or_insert_with(|| (next, vertex.name.clone()))
                .clone();
            let step = step_of(&name);
            if !self.started.contains_key(&vertex.digest)
                && (vertex.started.is_some() || vertex.cached)
            {
                self.started.insert(vertex.digest.clone(), true);
                lines.push(TraceLine {
                    text: format!("#{number} {name}"),
                    step: step.clone(),
                    starts_step: step.is_some(),
                });
            }
            if self.finished.contains_key(&vertex.digest) {
                continue;
            }
            let done = if !vertex.error.is_empty() {
                if self.failed.is_none() {
                    self.failed = Some((name.clone(), vertex.error.clone()));
                }
                Some(format!("#{number} ERROR: {}", vertex.error))
            } else if vertex.cached {
                Some(format!("#{number} CACHED"))
            } else {
                match (vertex.started, vertex.completed) {
                    (Some(start), Some(end)) => Some(format!(
                        "#{number} DONE {:.1}s",
                        (end.seconds_f64() - start.seconds_f64()).max(0.0)
                    )),
                    _ => None,
                }
            };
            if let Some(text) = done {
                self.finished.insert(vertex.digest.clone(), true);
                if let Some(rest) = self.partial.remove(&vertex.digest) {
                    if !rest.is_empty() {
                        lines.push(self.line(&vertex.digest, &rest));
                    }
                }
                lines.push(TraceLine {
                    text,
                    step,
                    starts_step: false,
                });
            }
        }
        for log in status.logs {
            let text = String::from_utf8_lossy(&log.msg).replace('\r', "\n");
            let mut pending = self.partial.remove(&log.vertex).unwrap_or_default();
            pending.push_str(&text);
            while let Some(end) = pending.find('\n') {
                let line: String = pending.drain(..=end).collect();
                let line = line.trim_end();
                if !line.is_empty() {
                    lines.push(self.line(&log.vertex, line));
                }
            }
            if !pending.is_empty() {
                self.partial.insert(log.vertex.clone(), pending);
            }
        }
        lines
    }

    fn line(&self, vertex: &str, text: &str) -> TraceLine {
        let (number, name) = self
            .numbers
            .get(vertex)
            .cloned()
            .unwrap_or((0, String::new()));
        TraceLine {
            text: format!("#{number} {text}"),
            step: step_of(&name),
            starts_step: false,
        }
    }
}

/// `[build 2/4] RUN make` -> `build 2/4`; `[2/3] COPY . .` -> `2/3`.
/// Internal vertexes (`[internal] load .dockerignore`) have no step.
pub fn step_of(name: &str) -> Option<String> {
    let inside = name.strip_prefix('[')?.split(']').next()?;
    if inside == "internal" || !inside.contains('/') {
        return None;
    }
    Some(inside.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vertex(digest: &str, name: &str) -> Vertex {
        Vertex {
            digest: digest.into(),
            name: name.into(),
            cached: false,
            started: None,
            completed: None,
            error: String::new(),
        }
    }

    #[test]
    fn renders_like_plain_progress() {
        let mut trace = Trace::default();
        let started = Some(Timestamp {
            seconds: 10,
            nanos: 0,
        });
        let lines = trace.update(StatusResponse {
            vertexes: vec![Vertex {
                started,
                ..vertex("a", "[build 2/4] RUN make")
            }],
            logs: vec![VertexLog {
                vertex: "a".into(),
                msg: b"compiling\npart".to_vec(),
            }],
        });
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["#1 [build 2/4] RUN make", "#1 compiling"]);
        assert_eq!(lines[0].step.as_deref(), Some("build 2/4"));
        assert!(lines[0].starts_step);
        let lines = trace.update(StatusResponse {
            vertexes: vec![Vertex {
                started,
                completed: Some(Timestamp {
                    seconds: 11,
                    nanos: 500_000_000,
                }),
                error: "exit code: 2".into(),
                ..vertex("a", "[build 2/4] RUN make")
            }],
            logs: vec![],
        });
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["#1 part", "#1 ERROR: exit code: 2"]);
        assert_eq!(
            trace.failed,
            Some(("[build 2/4] RUN make".into(), "exit code: 2".into()))
        );
    }

    #[test]
    fn decodes_what_it_encodes() {
        let status = StatusResponse {
            vertexes: vec![Vertex {
                cached: true,
                ..vertex("d", "[1/2] FROM busybox")
            }],
            logs: vec![],
        };
        let aux = base64::engine::general_purpose::STANDARD.encode(status.encode_to_vec());
        assert_eq!(decode(&aux), Some(status));
        assert_eq!(decode("not base64!"), None);
        assert_eq!(step_of("[internal] load metadata"), None);
    }
}
