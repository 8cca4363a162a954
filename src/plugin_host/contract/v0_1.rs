//! Contract `slipway:plugin@0.1.x`: bindings generated from `wit/`, the
//! host side of its imports, and conversions of its exports into the
//! version-neutral types of `plugin_host::api`.
//!
//! Each contract version the host serves gets a module like this one, so a
//! new version can be added without touching plugins built for older ones.

use wasmtime::component::HasSelf;

use crate::plan::Evidence;
use crate::plugin_host::api;
use crate::plugin_host::sandbox::{self, Sandbox};

wasmtime::component::bindgen!({
    world: "detector",
    path: "wit",
});

use self::exports::slipway::plugin::plugin as guest;
use self::slipway::plugin::{catalogue, log, source, types};

pub(crate) fn add_to_linker(
    linker: &mut wasmtime::component::Linker<Sandbox>,
) -> wasmtime::Result<()> {
    Detector::add_to_linker::<Sandbox, HasSelf<Sandbox>>(linker, |sandbox| sandbox)
}

impl types::Host for Sandbox {}

impl source::Host for Sandbox {
    fn list_dir(&mut self, path: String) -> Result<Vec<source::Entry>, source::FsError> {
        Sandbox::list_dir(self, &path)
            .map(|entries| entries.into_iter().map(entry).collect())
            .map_err(fs_error)
    }

    fn read_file(&mut self, path: String) -> Result<Vec<u8>, source::FsError> {
        Sandbox::read_file(self, &path).map_err(fs_error)
    }

    fn stat(&mut self, path: String) -> Result<Option<source::Entry>, source::FsError> {
        Sandbox::stat(self, &path)
            .map(|found| found.map(entry))
            .map_err(fs_error)
    }

    fn exists(&mut self, path: String) -> bool {
        matches!(Sandbox::stat(self, &path), Ok(Some(_)))
    }
}

impl log::Host for Sandbox {
    fn log(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Trace => sandbox::LogLevel::Trace,
            log::Level::Debug => sandbox::LogLevel::Debug,
            log::Level::Info => sandbox::LogLevel::Info,
            log::Level::Warn => sandbox::LogLevel::Warn,
            log::Level::Error => sandbox::LogLevel::Error,
        };
        Sandbox::log(self, level, &message);
    }
}

impl catalogue::Host for Sandbox {
    fn base_images(&mut self, runtime: String, arch: String) -> Vec<catalogue::BaseImage> {
        crate::catalogue::base_images(&runtime, &arch)
            .into_iter()
            .map(|i| catalogue::BaseImage {
                version: i.version,
                image: i.image,
                is_default: i.is_default,
            })
            .collect()
    }
}

fn entry(e: sandbox::DirEntry) -> source::Entry {
    source::Entry {
        name: e.name,
        kind: match e.kind {
            sandbox::EntryKind::File => source::EntryKind::File,
            sandbox::EntryKind::Directory => source::EntryKind::Directory,
            sandbox::EntryKind::Symlink => source::EntryKind::Symlink,
            sandbox::EntryKind::Other => source::EntryKind::Other,
        },
        size: e.size,
    }
}

fn fs_error(e: sandbox::FsFailure) -> source::FsError {
    use sandbox::FsFailure as F;
    use source::FsError as E;
    match e {
        F::NotFound(p) => E::NotFound(p),
        F::OutsideRoot(p) => E::OutsideRoot(p),
        F::InvalidPath(p) => E::InvalidPath(p),
        F::NotADirectory(p) => E::NotADirectory(p),
        F::NotAFile(p) => E::NotAFile(p),
        F::TooLarge(size) => E::TooLarge(size),
        F::BudgetExhausted => E::BudgetExhausted,
        F::Io(m) => E::Io(m),
    }
}

pub(crate) fn target(t: &crate::plan::Target) -> types::Target {
    types::Target {
        device_type: t.device_type.clone(),
        arch: t.arch.clone(),
        platform: t.platform.clone(),
    }
}

pub(crate) fn info(i: guest::PluginInfo) -> api::PluginInfo {
    api::PluginInfo {
        name: i.name,
        version: i.version,
        contract_version: i.contract_version,
        priority: i.priority,
        scope: match i.scope {
            guest::Scope::Service => api::Scope::Service,
            guest::Scope::Project => api::Scope::Project,
        },
        description: i.description,
    }
}

pub(crate) fn reported(e: types::PluginError) -> api::ReportedError {
    match e {
        types::PluginError::InvalidProject(d) => api::ReportedError::InvalidProject {
            file: d.file,
            line: d.line,
            column: d.column,
            message: d.message,
        },
        types::PluginError::Failed(m) => api::ReportedError::Failed(m),
    }
}

pub(crate) fn detection(d: guest::Detection) -> api::Detection {
    api::Detection {
        project_type: d.project_type,
        evidence: d
            .evidence
            .into_iter()
            .map(|e| Evidence {
                file: e.file,
                reason: e.reason,
            })
            .collect(),
    }
}

pub(crate) fn plan(p: guest::BuildPlan) -> api::PlanOutput {
    match p {
        guest::BuildPlan::Service(s) => api::PlanOutput::Service(api::ServicePlanOutput {
            dockerfile: match s.dockerfile {
                guest::DockerfileSource::Path(p) => api::DockerfileSource::Path(p),
                guest::DockerfileSource::Template(p) => api::DockerfileSource::Template(p),
                guest::DockerfileSource::Generated(c) => api::DockerfileSource::Generated(c),
            },
            build_args: s.build_args,
            labels: s.labels,
            notes: s.notes,
        }),
        guest::BuildPlan::Project(p) => api::PlanOutput::Project(api::ProjectPlanOutput {
            services: p
                .services
                .into_iter()
                .map(|s| api::ServiceSpec {
                    name: s.name,
                    source: match s.source {
                        guest::ServiceSource::Build(b) => {
                            api::ServiceSpecSource::Build(api::BuildSpec {
                                context: b.context,
                                dockerfile: b.dockerfile,
                                args: b.args,
                                target: b.target,
                            })
                        }
                        guest::ServiceSource::Image(i) => api::ServiceSpecSource::Image(i),
                    },
                })
                .collect(),
            warnings: p.warnings,
        }),
    }
}
