//! `slipway detect`: a dry run of detection and planning.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;
use serde_json::{json, Value};

use super::{exit, table, PluginArgs};
use slipway::detect::{self, DetectOptions, DetectReport};
use slipway::plan::{Composition, ServicePlan, ServiceSource};
use slipway::source::ProjectDir;

#[derive(Args)]
pub(crate) struct DetectArgs {
    /// The project directory.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// The device type to plan for, e.g. raspberrypi4-64 (see `slipway device-types`).
    #[arg(long, value_name = "SLUG")]
    device_type: String,
    /// The app name (default: the directory's name).
    #[arg(long)]
    app: Option<String>,
    /// Build the single service from DIR (relative to the project; for monorepos).
    #[arg(long, value_name = "DIR")]
    context: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    /// Print each service's resolved Dockerfile.
    #[arg(long)]
    show_dockerfile: bool,
    #[command(flatten)]
    plugins: PluginArgs,
}

/// What `%%BALENA_RELEASE_HASH%%` becomes in a dry run, where no release exists.
const DRY_RUN_RELEASE: &str = "dry-run";

pub(crate) fn run(args: DetectArgs) -> anyhow::Result<u8> {
    let device = match slipway::target::lookup(&args.device_type) {
        Ok(device) => device,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    let project = match ProjectDir::open(&args.path) {
        Ok(project) => project,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    let (host, plugins) = args.plugins.host_and_plugins(false)?;
    let options = DetectOptions {
        app: args.app.clone().unwrap_or_else(|| project.name()),
        release_hash: DRY_RUN_RELEASE.into(),
        context: args.context.clone(),
    };
    let report = detect::detect(&host, &plugins, &project, &device.target(), &options);
    if args.json {
        super::emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&to_json(&report))?
        ));
    } else {
        super::emit(&human(&report, args.show_dockerfile));
    }
    for warning in &report.plan.warnings {
        eprintln!("warning: {}", super::safe(warning));
    }
    for problem in &report.problems {
        eprintln!("error: {}", super::safe(&problem.message));
    }
    // The process ends here: tearing the plugin engine down (its compiled
    // components and their code mappings) would only delay the exit.
    std::mem::forget((host, plugins));
    Ok(exit_code(&report))
}

fn exit_code(report: &DetectReport) -> u8 {
    if report.is_clean() {
        exit::OK
    } else if report.only_nothing_detected() {
        exit::NOTHING_DETECTED
    } else {
        exit::INVALID
    }
}

fn to_json(report: &DetectReport) -> Value {
    let plan = &report.plan;
    json!({
        "device_type": plan.target.device_type,
        "arch": plan.target.arch,
        "platform": plan.target.platform,
        "app": plan.app,
        "composition": plan.composition,
        "services": plan.services.iter().map(service_json).collect::<Vec<_>>(),
        "hooks": plan.hooks,
        "warnings": plan.warnings,
        "errors": report.problems,
    })
}

fn service_json(service: &ServicePlan) -> Value {
    match &service.source {
        ServiceSource::Image { image } => json!({
            "name": service.name,
            "context": Value::Null,
            "project_type": "image",
            "image": image,
            "plugin": Value::Null,
            "plugin_version": Value::Null,
            "dockerfile": Value::Null,
            "build_args": {},
            "command": service.command,
            "candidates": service.candidates,
        }),
        ServiceSource::Build(recipe) => json!({
            "name": service.name,
            "context": service.context,
            "project_type": recipe.project_type,
            "plugin": recipe.plugin.name,
            "plugin_version": recipe.plugin.version,
            "dockerfile": recipe.dockerfile.content,
            "dockerfile_origin": recipe.dockerfile.origin,
            "dockerfile_path": recipe.dockerfile.source_path,
            "build_args": recipe.build_args,
            "labels": recipe.labels,
            "target_stage": recipe.target_stage,
            "command": service.command,
            "notes": recipe.notes,
            "candidates": service.candidates,
        }),
    }
}

fn human(report: &DetectReport, show_dockerfile: bool) -> String {
    let plan = &report.plan;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} for {} ({}, {}): {} service{}",
        plan.app,
        plan.target.device_type,
        plan.target.arch,
        plan.target.platform,
        plan.services.len(),
        if plan.services.len() == 1 { "" } else { "s" }
    );
    if let Composition::Plugin { kind, file, plugin } = &plan.composition {
        let _ = writeln!(out, "services from {file} ({kind}, plugin {plugin})");
    }
    for service in &plan.services {
        out.push('\n');
        service_human(&mut out, service, show_dockerfile);
    }
    if !plan.hooks.is_empty() {
        out.push('\n');
        let _ = writeln!(out, "release hooks (run by the rollout):");
        for hook in &plan.hooks {
            let _ = writeln!(out, "  {hook}");
        }
    }
    out
}

fn service_human(out: &mut String, service: &ServicePlan, show_dockerfile: bool) {
    let recipe = match &service.source {
        ServiceSource::Image { image } => {
            let _ = writeln!(
                out,
                "{}: prebuilt image {image}, nothing to build",
                service.name
            );
            if let Some(command) = &service.command {
                let _ = writeln!(out, "  command: {command}");
            }
            return;
        }
        ServiceSource::Build(recipe) => recipe,
    };
    let from = recipe
        .dockerfile
        .source_path
        .as_deref()
        .map(|p| format!("Dockerfile from {p}"))
        .unwrap_or_else(|| "generated Dockerfile".into());
    let _ = writeln!(
        out,
        "{}: {} (context {}, {from})",
        service.name, recipe.project_type, service.context
    );
    let mut rows = Vec::new();
    for candidate in &service.candidates {
        let mark = if candidate.chosen { "*" } else { " " };
        let plugin = format!("{}@{}", candidate.plugin, candidate.version);
        let mut evidence: Vec<String> = candidate
            .evidence
            .iter()
            .map(|e| format!("{}: {}", e.file, e.reason))
            .collect();
        if let Some(error) = &candidate.error {
            evidence.push(format!("failed: {error}"));
        }
        if evidence.is_empty() {
            evidence.push(String::new());
        }
        for (i, line) in evidence.into_iter().enumerate() {
            rows.push(if i == 0 {
                vec![
                    format!("{mark} {}", service.name),
                    candidate.project_type.clone(),
                    plugin.clone(),
                    line,
                ]
            } else {
                vec![String::new(), String::new(), String::new(), line]
            });
        }
    }
    for line in table::render(&["  SERVICE", "PROJECT TYPE", "PLUGIN", "EVIDENCE"], &rows).lines() {
        let _ = writeln!(out, "  {line}");
    }
    if !recipe.build_args.is_empty() {
        let args: Vec<String> = recipe
            .build_args
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(out, "  build args: {}", args.join(" "));
    }
    if let Some(stage) = &recipe.target_stage {
        let _ = writeln!(out, "  target stage: {stage}");
    }
    if let Some(command) = &service.command {
        let _ = writeln!(
            out,
            "  command: {command} (replaces the image's CMD/ENTRYPOINT)"
        );
    }
    for note in &recipe.notes {
        let _ = writeln!(out, "  note: {note}");
    }
    if show_dockerfile {
        let _ = writeln!(out, "  --- Dockerfile ---");
        for line in recipe.dockerfile.content.lines() {
            let _ = writeln!(out, "  {line}");
        }
        let _ = writeln!(out, "  ------------------");
    }
}
