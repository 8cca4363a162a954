//! A real `slipway serve` for a test: its own data dir and port, the shared
//! test registry (Debian's docker-registry, started by scripts/setup-registry.sh).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const ADMIN: &str = "test-admin-token-0123456789";
/// The registry the service tests push to (not 5000: the main job's).
pub const REGISTRY_PORT: u16 = 5055;

/// Where the test registry keeps its data: read from the configuration of
/// the registry process serving [`REGISTRY_PORT`] (which may have been
/// started by an earlier run from another checkout).
pub fn registry_storage() -> PathBuf {
    registry();
    let addr = format!("addr: 127.0.0.1:{REGISTRY_PORT}");
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if !args.iter().any(|a| a.ends_with("docker-registry")) {
            continue;
        }
        let Some(config) = args.iter().find(|a| a.ends_with(".yml")) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(config) else {
            continue;
        };
        if !text.contains(&addr) {
            continue;
        }
        if let Some(root) = text
            .split("rootdirectory:")
            .nth(1)
            .and_then(|rest| rest.split(['}', '\n']).next())
        {
            return PathBuf::from(root.trim());
        }
    }
    panic!("no docker-registry process serves 127.0.0.1:{REGISTRY_PORT}");
}

pub fn registry() -> String {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("registry");
        let out = Command::new("bash")
            .arg(super::root().join("scripts/setup-registry.sh"))
            .arg(REGISTRY_PORT.to_string())
            .arg(&dir)
            .output()
            .expect("setup-registry runs");
        assert!(
            out.status.success(),
            "the test registry did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    format!("127.0.0.1:{REGISTRY_PORT}")
}

pub struct Server {
    pub child: Child,
    pub url: String,
    pub port: u16,
    pub data: PathBuf,
    _dir: Option<tempfile::TempDir>,
    pub log: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    pub fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let mut server = Server::start_in(&data, None);
        server._dir = Some(dir);
        server
    }

    /// A server on `data` (reused across restarts), on `port` or a free one.
    pub fn start_in(data: &Path, port: Option<u16>) -> Server {
        Server::start_with(data, port, &[])
    }

    /// Like [`Server::start_in`], with more `slipway serve` arguments.
    pub fn start_with(data: &Path, port: Option<u16>, extra: &[&str]) -> Server {
        let registry = registry();
        let port = port.unwrap_or_else(free_port);
        std::fs::create_dir_all(data).unwrap();
        let log = data.with_extension("log");
        let child = Command::new(env!("CARGO_BIN_EXE_slipway"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data)
            .args(["--registry", &registry, "--cache-dir"])
            .arg(super::cache_dir())
            .args(extra)
            .env("SLIPWAY_ADMIN_TOKEN", ADMIN)
            .env("SLIPWAY_LOG", "info")
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap(),
            )
            .spawn()
            .expect("slipway serve starts");
        let server = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            port,
            data: data.to_path_buf(),
            _dir: None,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = reqwest::blocking::get(format!("{}/healthz", server.url)) {
                if r.status() == 200 {
                    return server;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the server did not become ready: {}",
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn client() -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()
            .unwrap()
    }

    pub fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let r = Server::client()
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    pub fn post(&self, path: &str, token: &str, body: &Value) -> (u16, Value) {
        let r = Server::client()
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    pub fn create_app(&self, name: &str, device_types: &[&str]) {
        let (status, body) = self.post(
            "/api/v1/apps",
            ADMIN,
            &json!({"name": name, "device_types": device_types}),
        );
        assert_eq!(status, 201, "{body}");
    }

    pub fn deploy_token(&self, app: &str) -> String {
        let (status, body) = self.post(&format!("/api/v1/apps/{app}/tokens"), ADMIN, &json!({}));
        assert_eq!(status, 201, "{body}");
        body["token"].as_str().unwrap().to_string()
    }

    pub fn git_url(&self, app: &str, token: &str) -> String {
        format!("http://slipway:{token}@127.0.0.1:{}/{app}.git", self.port)
    }

    pub fn release(&self, id: i64) -> Value {
        let (status, body) = self.get(&format!("/api/v1/releases/{id}"), ADMIN);
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Waits until release `id` is closed and returns it.
    pub fn wait_closed(&self, id: i64, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let release = self.release(id);
            let status = release["status"].as_str().unwrap_or("").to_string();
            if status != "queued" && status != "running" {
                return release;
            }
            assert!(
                Instant::now() < deadline,
                "release {id} still {status}; log: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Uploads `tar` bytes and reads the whole NDJSON answer.
    pub fn upload(
        &self,
        app: &str,
        token: &str,
        content_type: &str,
        tar: Vec<u8>,
    ) -> (u16, Vec<Value>) {
        let r = Server::client()
            .post(format!("{}/api/v1/apps/{app}/releases", self.url))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(tar)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().unwrap_or_default();
        if status != 200 {
            return (
                status,
                vec![serde_json::from_str(&text).unwrap_or(Value::String(text))],
            );
        }
        let lines = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (status, lines)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A git work tree with `files` committed.
pub fn git_project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    git(dir.path(), &["init", "-q", "-b", "master"]);
    commit_all(dir.path(), "first");
    dir
}

pub fn commit_all(dir: &Path, message: &str) -> String {
    git(dir, &["add", "-A"]);
    git(
        dir,
        &[
            "-c",
            "user.email=t@example.com",
            "-c",
            "user.name=t",
            "commit",
            "-q",
            "-m",
            message,
        ],
    );
    git(dir, &["rev-parse", "HEAD"]).stdout_text()
}

pub trait Text {
    fn stdout_text(&self) -> String;
    fn stderr_text(&self) -> String;
}

impl Text for Output {
    fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).trim().to_string()
    }
    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).to_string()
    }
}

pub fn git(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", out.stderr_text());
    out
}

/// `git push`, whatever its outcome.
pub fn push(dir: &Path, url: &str, refspec: &str) -> Output {
    Command::new("git")
        .current_dir(dir)
        .args(["push", url, refspec])
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap()
}

/// The commit a remote branch points at, if any.
pub fn remote_ref(url: &str, branch: &str) -> Option<String> {
    let out = Command::new("git")
        .args(["ls-remote", url, &format!("refs/heads/{branch}")])
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .map(str::to_string)
}

/// The release id `slipway: release N ...` lines name.
pub fn release_id_in(text: &str) -> Option<i64> {
    text.lines()
        .filter_map(|l| l.split("slipway: release ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .next()
}

/// A tar archive of `files` (path, content), as a client would upload it.
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, name, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

/// A tar of a project that is one Dockerfile.
pub fn dockerfile_tar(dockerfile: &str) -> Vec<u8> {
    tar_of(&[("Dockerfile", dockerfile.as_bytes())])
}
