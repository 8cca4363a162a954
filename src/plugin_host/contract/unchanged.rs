//! What contract 0.2 kept from 0.1: the imports (`source`, `log`,
//! `catalogue`) and most export types are the same in both WIT files, but
//! each `bindgen!` makes its own Rust types for them. This macro writes the
//! host side once for a version module; a version that changes one of these
//! interfaces stops using the macro for it and writes its own.

/// Expands, inside a `contract::vX_Y` module that has `Detector`, `types`,
/// `source`, `log`, `catalogue` and `guest` in scope, to the linker set-up,
/// the import implementations for `Sandbox` and the conversions of the
/// unchanged export types.
macro_rules! unchanged_since_0_1 {
    () => {
        pub(crate) fn add_to_linker(
            linker: &mut wasmtime::component::Linker<Sandbox>,
        ) -> wasmtime::Result<()> {
            use wasmtime::component::HasSelf;
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
                use $crate::plugin_host::sandbox::LogLevel;
                let level = match level {
                    log::Level::Trace => LogLevel::Trace,
                    log::Level::Debug => LogLevel::Debug,
                    log::Level::Info => LogLevel::Info,
                    log::Level::Warn => LogLevel::Warn,
                    log::Level::Error => LogLevel::Error,
                };
                Sandbox::log(self, level, &message);
            }
        }

        impl catalogue::Host for Sandbox {
            fn base_images(&mut self, runtime: String, arch: String) -> Vec<catalogue::BaseImage> {
                $crate::catalogue::base_images(&runtime, &arch)
                    .into_iter()
                    .map(|i| catalogue::BaseImage {
                        version: i.version,
                        image: i.image,
                        is_default: i.is_default,
                    })
                    .collect()
            }
        }

        fn entry(e: $crate::plugin_host::sandbox::DirEntry) -> source::Entry {
            use $crate::plugin_host::sandbox::EntryKind;
            source::Entry {
                name: e.name,
                kind: match e.kind {
                    EntryKind::File => source::EntryKind::File,
                    EntryKind::Directory => source::EntryKind::Directory,
                    EntryKind::Symlink => source::EntryKind::Symlink,
                    EntryKind::Other => source::EntryKind::Other,
                },
                size: e.size,
            }
        }

        fn fs_error(e: $crate::plugin_host::sandbox::FsFailure) -> source::FsError {
            use source::FsError as E;
            use $crate::plugin_host::sandbox::FsFailure as F;
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

        pub(crate) fn target(t: &$crate::plan::Target) -> types::Target {
            types::Target {
                device_type: t.device_type.clone(),
                arch: t.arch.clone(),
                platform: t.platform.clone(),
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
                    .map(|e| $crate::plan::Evidence {
                        file: e.file,
                        reason: e.reason,
                    })
                    .collect(),
            }
        }

        fn scope(s: guest::Scope) -> api::Scope {
            match s {
                guest::Scope::Service => api::Scope::Service,
                guest::Scope::Project => api::Scope::Project,
            }
        }

        fn service_plan(s: guest::ServicePlan) -> api::ServicePlanOutput {
            api::ServicePlanOutput {
                dockerfile: match s.dockerfile {
                    guest::DockerfileSource::Path(p) => api::DockerfileSource::Path(p),
                    guest::DockerfileSource::Template(p) => api::DockerfileSource::Template(p),
                    guest::DockerfileSource::Generated(c) => api::DockerfileSource::Generated(c),
                },
                build_args: s.build_args,
                labels: s.labels,
                notes: s.notes,
            }
        }

        fn service_source(s: guest::ServiceSource) -> api::ServiceSpecSource {
            match s {
                guest::ServiceSource::Build(b) => api::ServiceSpecSource::Build(api::BuildSpec {
                    context: b.context,
                    dockerfile: b.dockerfile,
                    args: b.args,
                    target: b.target,
                }),
                guest::ServiceSource::Image(i) => api::ServiceSpecSource::Image(i),
            }
        }
    };
}

pub(crate) use unchanged_since_0_1;
