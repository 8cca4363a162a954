//! A small Dockerfile builder, so generated Dockerfiles are written as
//! steps rather than string concatenation, and quoted correctly.
//!
//! ```ignore
//! let text = Dockerfile::from("amd64/python:3.12-slim-bookworm")
//!     .workdir("/app")
//!     .copy(&["requirements.txt"], "./")
//!     .run("pip install --no-cache-dir -r requirements.txt")
//!     .copy(&["."], ".")
//!     .cmd(&["python", "app.py"])
//!     .render();
//! ```

/// A Dockerfile under construction; each method adds one instruction.
#[derive(Debug, Clone, Default)]
pub struct Dockerfile {
    lines: Vec<String>,
}

/// JSON array form (`["a", "b"]`), which Docker runs without a shell.
fn exec_form(words: &[&str]) -> String {
    serde_json::to_string(words).unwrap_or_else(|_| "[]".into())
}

/// The user runtime stages run as: not root, and numeric so that no passwd
/// entry is needed (Docker lets any user bind ports below 1024 in a container).
pub const RUNTIME_USER: &str = "1000:1000";

impl Dockerfile {
    /// Starts with `FROM image`.
    pub fn from(image: &str) -> Dockerfile {
        Dockerfile::default().stage(image, None)
    }

    /// An empty Dockerfile; start it with [`Dockerfile::stage`].
    pub fn new() -> Dockerfile {
        Dockerfile::default()
    }

    /// Starts a (further) stage: `FROM image [AS name]`.
    pub fn stage(mut self, image: &str, name: Option<&str>) -> Dockerfile {
        if !self.lines.is_empty() {
            self.lines.push(String::new());
        }
        self.lines.push(match name {
            Some(name) => format!("FROM {image} AS {name}"),
            None => format!("FROM {image}"),
        });
        self
    }

    pub fn comment(mut self, text: &str) -> Dockerfile {
        for line in text.lines() {
            self.lines.push(format!("# {line}"));
        }
        self
    }

    pub fn workdir(mut self, dir: &str) -> Dockerfile {
        self.lines.push(format!("WORKDIR {dir}"));
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Dockerfile {
        let value = serde_json::to_string(value).unwrap_or_default();
        self.lines.push(format!("ENV {name}={value}"));
        self
    }

    /// `COPY src... dest`.
    pub fn copy(mut self, sources: &[&str], dest: &str) -> Dockerfile {
        self.lines
            .push(format!("COPY {} {dest}", sources.join(" ")));
        self
    }

    /// `COPY --from=stage src dest`.
    pub fn copy_from(mut self, stage: &str, source: &str, dest: &str) -> Dockerfile {
        self.lines
            .push(format!("COPY --from={stage} {source} {dest}"));
        self
    }

    /// `RUN command` (shell form).
    pub fn run(mut self, command: &str) -> Dockerfile {
        self.lines.push(format!("RUN {command}"));
        self
    }

    /// `USER id`: a numeric `uid:gid` needs no user entry in the image, so it
    /// works on `scratch` and any base.
    pub fn user(mut self, id: &str) -> Dockerfile {
        self.lines.push(format!("USER {id}"));
        self
    }

    pub fn expose(mut self, port: u16) -> Dockerfile {
        self.lines.push(format!("EXPOSE {port}"));
        self
    }

    /// `CMD [...]` (exec form).
    pub fn cmd(mut self, words: &[&str]) -> Dockerfile {
        self.lines.push(format!("CMD {}", exec_form(words)));
        self
    }

    /// `CMD ["sh", "-c", command]`, for commands written for a shell (Procfiles).
    pub fn shell_cmd(self, command: &str) -> Dockerfile {
        self.cmd(&["sh", "-c", command])
    }

    pub fn render(&self) -> String {
        let mut text = self.lines.join("\n");
        text.push('\n');
        text
    }
}
