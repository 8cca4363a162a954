//! The `slipway` command line. Human output by default, `--json` for machines.

mod agent;
mod author;
mod build;
mod client;
mod detect;
mod fleet;
mod git_hook;
mod plugin;
mod preload;
mod progress;
mod push;
mod push_local;
mod releases;
mod serve;
mod simulate;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use slipway::plugin_host::cache::ComponentCache;
use slipway::plugin_host::policy::Policy;
use slipway::plugin_host::{Instances, Limits, PluginHost, PluginSet};

/// Exit codes other tools can rely on.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILURE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NOTHING_DETECTED: u8 = 20;
    pub const INVALID: u8 = 21;
    /// A release was recorded and at least one image failed.
    pub const BUILD_FAILED: u8 = 30;
    /// The build was stopped by Ctrl-C or SIGTERM; the release is `cancelled`.
    pub const CANCELLED: u8 = 130;
}

#[derive(Parser)]
#[command(
    name = "slipway",
    version,
    about = "Builds container images for device fleets"
)]
struct Cli {
    /// More log output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
// Each subcommand's arguments are built only when it runs: building all of
// them cost every short command (detect, --version) heap pages at start.
#[command(defer = true)]
enum Command {
    /// Detect what a project is and print its build plan (a dry run).
    Detect(detect::DetectArgs),
    /// Build images for one or more device types and record a release.
    Build(build::BuildArgs),
    /// List releases, newest first.
    Releases(releases::ReleasesArgs),
    /// Inspect one release.
    #[command(subcommand)]
    Release(releases::ReleaseCommand),
    /// Inspect plugins.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Run the builder service: git push, uploads, webhooks, the release API.
    Serve(serve::ServeArgs),
    /// Upload a project to a Slipway service and build it there.
    Push(push::PushArgs),
    /// Register, list, pin and tag devices (a client of `slipway serve`).
    #[command(subcommand)]
    Device(fleet::DeviceCommand),
    /// An app's fleet: its target release; a simulated fleet.
    #[command(subcommand)]
    Fleet(FleetCommand),
    /// Staged rollouts: create, show, pause, resume, stop.
    #[command(subcommand)]
    Rollout(fleet::RolloutCommand),
    /// The device agent: runs the device's target release on its engine.
    Agent(agent::AgentArgs),
    /// Write a release's images and target state for one device type to a
    /// file the agent starts from offline (`slipway agent --preload`).
    Preload(preload::PreloadArgs),
    /// Run by the service's git repositories (not for people).
    #[command(hide = true, name = "git-hook")]
    GitHook { stage: String },
    /// List the device types Slipway builds for.
    DeviceTypes {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum FleetCommand {
    /// Point an app's fleet at a release (or `--latest`: follow each new one).
    Target {
        app: String,
        #[arg(required_unless_present = "latest")]
        release: Option<i64>,
        #[arg(long, conflicts_with = "release")]
        latest: bool,
        #[command(flatten)]
        server: client::ServerArgs,
    },
    /// Simulated devices driven through a real rollout on a running service.
    Simulate(simulate::SimulateArgs),
}

// Options shared by every command that runs plugins (a plain comment: as a
// doc comment it would become the help text of each command flattening it).
#[derive(Args, Clone)]
pub(crate) struct PluginArgs {
    /// Load extra plugin components (*.wasm) from DIR, beside the built-ins.
    #[arg(long = "plugins", value_name = "DIR")]
    plugin_dirs: Vec<PathBuf>,
    /// CPU deadline of one plugin call, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    plugin_deadline_ms: u64,
    /// Memory one plugin call may use, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    plugin_memory_mib: usize,
    /// Where compiled plugins are cached (default: $SLIPWAY_CACHE_DIR or ~/.cache/slipway).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// The plugin policy (TOML): enabled plugins, order, priorities, sha256
    /// pins, per-plugin limits. See docs/plugins.md.
    #[arg(long, value_name = "FILE", env = "SLIPWAY_POLICY")]
    policy: Option<PathBuf>,
    /// Compile plugins in memory, without the on-disk cache.
    #[arg(long)]
    no_plugin_cache: bool,
}

impl PluginArgs {
    /// The host and the plugins; `long_lived` (the service) pools instances,
    /// a command that detects once and exits maps them per call.
    pub(crate) fn host_and_plugins(
        &self,
        long_lived: bool,
    ) -> anyhow::Result<(PluginHost, PluginSet)> {
        let policy = self.policy()?;
        let host = self.host_for(policy.as_ref(), long_lived)?;
        let fetched = match &policy {
            Some(policy) if !policy.sources().is_empty() => {
                let cache =
                    slipway::plugin_host::remote::cache_dir(self.components_dir().as_deref());
                // A short-lived runtime: callers (detect, serve's start-up) are not async yet.
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
                    .block_on(slipway::plugin_host::remote::fetch_sources(
                        policy,
                        cache.as_deref(),
                    ))
            }
            _ => Vec::new(),
        };
        let plugins =
            PluginSet::load_with_policy(&host, &self.plugin_dirs, policy.as_ref(), fetched);
        Ok((host, plugins))
    }

    /// Where compiled plugins are cached, unless caching is off.
    fn components_dir(&self) -> Option<PathBuf> {
        if self.no_plugin_cache {
            return None;
        }
        self.cache_dir
            .as_ref()
            .map(|d| d.join("components"))
            .or_else(ComponentCache::default_dir)
    }

    fn policy(&self) -> anyhow::Result<Option<Policy>> {
        Ok(match &self.policy {
            Some(path) => Some(Policy::load(path)?),
            None => None,
        })
    }

    pub(crate) fn host(&self) -> anyhow::Result<PluginHost> {
        self.host_for(None, false)
    }

    fn host_for(&self, policy: Option<&Policy>, long_lived: bool) -> anyhow::Result<PluginHost> {
        let limits = Limits {
            deadline: Duration::from_millis(self.plugin_deadline_ms.max(1)),
            memory_bytes: self.plugin_memory_mib.max(1) << 20,
            ..Limits::default()
        };
        let cache_dir = self.components_dir();
        let instances = if long_lived {
            Instances::Pooled {
                max_memory_bytes: policy.map_or(limits.memory_bytes, |p| {
                    p.max_memory_bytes(limits.memory_bytes)
                }),
            }
        } else {
            Instances::OnDemand
        };
        Ok(PluginHost::with_instances(limits, instances, cache_dir)?)
    }
}

// Where releases are recorded (a plain comment, as on `PluginArgs`).
#[derive(Args, Clone)]
pub(crate) struct StoreArgs {
    /// Data directory holding the release database
    /// (default: $SLIPWAY_DATA_DIR, else ~/.local/share/slipway).
    #[arg(long, value_name = "DIR", env = "SLIPWAY_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

// Which database holds the service's records (a plain comment, as on
// `PluginArgs`).
#[derive(Args, Clone)]
pub(crate) struct DatabaseArgs {
    /// The store in PostgreSQL (postgres://...), shared by `slipway serve`
    /// replicas; default: SQLite under the data dir.
    #[arg(
        long,
        value_name = "URL",
        env = "SLIPWAY_DATABASE",
        hide_env_values = true
    )]
    pub(crate) database: Option<String>,
}

impl DatabaseArgs {
    pub(crate) fn which(&self, store: &StoreArgs) -> anyhow::Result<slipway::store::Database> {
        Ok(slipway::store::Database::from_url(
            self.database.as_deref(),
            store.dir()?,
        )?)
    }

    /// The store, for reading.
    pub(crate) fn open(
        &self,
        store: &StoreArgs,
    ) -> anyhow::Result<Box<dyn slipway::store::Store + Send>> {
        let owner = format!("cli:{}", std::process::id());
        Ok(slipway::store::open(&self.which(store)?, &owner, 15_000)?)
    }
}

impl StoreArgs {
    pub(crate) fn open(&self) -> anyhow::Result<slipway::release::SqliteStore> {
        Ok(slipway::release::SqliteStore::open(&self.dir()?)?)
    }

    pub(crate) fn dir(&self) -> anyhow::Result<PathBuf> {
        Ok(match &self.data_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("XDG_DATA_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
                .map(|d| d.join("slipway"))
                .ok_or_else(|| {
                    anyhow::anyhow!("no data dir: set SLIPWAY_DATA_DIR or pass --data-dir")
                })?,
        })
    }
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    // A thousand simulated agents would bury the summary in their warnings.
    let quiet_agents = matches!(cli.command, Command::Fleet(FleetCommand::Simulate(_)));
    init_tracing(cli.verbose, quiet_agents);
    let outcome = match cli.command {
        Command::Detect(args) => detect::run(args),
        Command::Build(args) => build::run(args),
        Command::Releases(args) => releases::list(args),
        Command::Release(command) => releases::run(command),
        Command::Plugin(command) => plugin::run(command),
        Command::DeviceTypes { json } => plugin::device_types(json),
        Command::Serve(args) => serve::run(args),
        Command::Push(args) => push::run(args),
        Command::GitHook { stage } => git_hook::run(&stage),
        Command::Device(command) => fleet::device(command),
        Command::Fleet(FleetCommand::Target {
            app,
            release,
            latest,
            server,
        }) => fleet::target(&app, release, latest, &server),
        Command::Fleet(FleetCommand::Simulate(args)) => simulate::run(args),
        Command::Rollout(command) => fleet::rollout(command),
        Command::Agent(args) => agent::run(args),
        Command::Preload(args) => preload::run(args),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

/// Now, as Unix milliseconds.
pub(crate) fn cli_now_ms() -> i64 {
    slipway::release::now_ms()
}

/// Writes command output to stdout. A closed pipe (`slipway ... | head`)
/// is not an error worth a panic: the reader has what it wanted.
pub(crate) fn emit(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(safe(text).as_bytes())
        .and_then(|_| stdout.flush());
}

/// Text from plugins, projects and engines made safe for a terminal: control
/// characters other than newline and tab are shown escaped (`\x1b`), so
/// no escape sequence can clear the screen, move the cursor or set the
/// window title. JSON output is unaffected: JSON escapes them already.
pub(crate) fn safe(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            if (c as u32) < 0x100 {
                out.push_str(&format!("\\x{:02x}", c as u32));
            } else {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn init_tracing(verbose: u8, quiet_agents: bool) {
    let mut default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    }
    .to_string();
    if quiet_agents && verbose == 0 {
        default.push_str(",slipway::agent=error");
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLIPWAY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Subcommands are built on first use (`defer`); each must still show
    /// its own description, not one of the option groups it flattens.
    #[test]
    fn each_command_keeps_its_own_description() {
        let mut cli = Cli::command();
        cli.build();
        let about = |name: &str| {
            cli.find_subcommand(name)
                .and_then(|c| c.get_about())
                .map(|a| a.to_string())
                .unwrap_or_default()
        };
        assert!(about("detect").starts_with("Detect what a project is"));
        assert!(about("build").starts_with("Build images"));
        assert!(about("releases").starts_with("List releases"));
        assert!(about("serve").starts_with("Run the builder service"));
        assert!(about("push").starts_with("Upload a project"));
        for command in cli.get_subcommands() {
            let about = command
                .get_about()
                .map(|a| a.to_string())
                .unwrap_or_default();
            assert!(
                !about.starts_with("Options shared")
                    && !about.starts_with("Where releases")
                    && !about.starts_with("Which database"),
                "{}: {about}",
                command.get_name()
            );
        }
    }
}
