//! Everything before a release is recorded: open the source, detect and plan
//! for every device type, lower the plans into image jobs, and check each
//! job's context rules. Blocking work (plugins, files): runs on the blocking
//! pool. Whatever fails here fails before anything is recorded or built.

use std::collections::HashMap;
use std::sync::Arc;

use super::{BuildRequest, PipelineError};
use crate::detect::{self, DetectOptions};
use crate::image::context::BuildContext;
use crate::plan::jobs::{self, LowerOptions, PlannedImage};
use crate::plan::{Composition, Hook};
use crate::plugin_host::{PluginHost, PluginSet};
use crate::source::ProjectDir;
use crate::target::DeviceType;

/// A release ready to record and build.
pub struct Prepared {
    pub app: String,
    pub hash: String,
    pub composition: String,
    pub hooks: Vec<Hook>,
    pub images: Vec<PlannedImage>,
}

pub fn prepare(
    host: &Arc<PluginHost>,
    plugins: &Arc<PluginSet>,
    request: &BuildRequest,
) -> Result<Prepared, PipelineError> {
    if request.device_types.is_empty() {
        return Err(PipelineError::NoDeviceType);
    }
    check_one_device_type_per_arch(&request.device_types)?;
    let project = ProjectDir::open(&request.project)?;
    let app = request.app.clone().unwrap_or_else(|| project.name());
    let hash = match &request.queued {
        Some(queued) => queued.hash.clone(),
        None => crate::release::new_release_hash(&app),
    };

    let mut plans = Vec::new();
    for device in &request.device_types {
        let options = DetectOptions {
            app: app.clone(),
            release_hash: hash.clone(),
            context: request.context.clone(),
        };
        let detected = detect::detect(host, plugins, &project, &device.target(), &options);
        if !detected.is_clean() {
            return Err(PipelineError::Detect {
                device_type: device.slug.clone(),
                report: Box::new(detected),
            });
        }
        plans.push(detected.plan);
    }
    let images = jobs::lower(
        &project,
        &plans,
        &hash,
        &LowerOptions {
            build_args: request.build_args.clone(),
            no_cache: request.no_cache,
            pull: request.pull,
            target_stage: request.target_stage.clone(),
            commit: request.commit.clone(),
        },
    )?;
    // A bad `.dockerignore` is found now, not after the release is recorded.
    for job in images.iter().filter_map(|image| image.job.as_ref()) {
        BuildContext::prepare(&job.context_dir, &job.context_display, String::new()).map_err(
            |source| PipelineError::Context {
                service: job.service.clone(),
                source,
            },
        )?;
    }
    Ok(Prepared {
        composition: composition_text(&project, &plans[0].composition),
        // Hooks come from the project, not the arch: every plan has the same.
        hooks: plans[0].hooks.clone(),
        app,
        hash,
        images,
    })
}

fn check_one_device_type_per_arch(devices: &[DeviceType]) -> Result<(), PipelineError> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for device in devices {
        if let Some(first) = seen.insert(&device.arch, &device.slug) {
            return Err(PipelineError::SameArch {
                first: first.to_string(),
                second: device.slug.clone(),
                arch: device.arch.clone(),
            });
        }
    }
    Ok(())
}

/// The composition as recorded: the file that splits the project (compose
/// file, Procfile) itself, or what a project without one means.
fn composition_text(project: &ProjectDir, composition: &Composition) -> String {
    match composition {
        Composition::Plugin { file, .. } => project
            .read_text(file)
            .unwrap_or_else(|e| format!("# {file} could not be read back: {e}\n")),
        Composition::SingleService => {
            "# no compose file: the project is one service, built from its root\n\
             services:\n  main:\n    build: .\n"
                .to_string()
        }
    }
}
