//! Lowering plans into image jobs: one per service and arch, with everything
//! the image stage needs and nothing it has to look up. Pure but for reading
//! the project (contexts and secret files), and it checks everything that can
//! be checked before a release is recorded.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{BuildPlan, Command, ServiceSource};
use crate::source::{ProjectDir, SourceError};

/// The largest build secret (BuildKit's own limit is 500 KiB).
pub const MAX_SECRET_BYTES: u64 = 500 * 1024;
/// Docker's limit on a tag; a repository name may be at most 255 characters.
const MAX_TAG: usize = 128;
const MAX_REPOSITORY: usize = 255;

/// Options of a build that apply to every job.
#[derive(Debug, Clone, Default)]
pub struct LowerOptions {
    /// `--build-arg`s; they override the project's own.
    pub build_args: BTreeMap<String, String>,
    pub no_cache: bool,
    pub pull: bool,
    /// Overrides the project's target stage.
    pub target_stage: Option<String>,
    pub commit: Option<String>,
}

/// A secret's bytes. Never printed: `Debug` shows only its size.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(pub Vec<u8>);

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretValue({} bytes, redacted)", self.0.len())
    }
}

/// Everything needed to build one image.
#[derive(Debug, Clone)]
pub struct ImageJob {
    pub service: String,
    pub arch: String,
    pub platform: String,
    /// The service's context directory on disk.
    pub context_dir: PathBuf,
    /// The context as the project names it, for messages.
    pub context_display: String,
    pub dockerfile: String,
    pub build_args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub target_stage: Option<String>,
    pub tag: String,
    /// The process the image runs, replacing its CMD and ENTRYPOINT.
    pub command: Option<Command>,
    pub no_cache: bool,
    pub pull: bool,
    /// Build secrets by id.
    pub secrets: BTreeMap<String, SecretValue>,
}

impl ImageJob {
    /// What decides the image's layers. Jobs with the same key (processes of
    /// one Procfile, say) share one build; labels, tag and command are
    /// applied to each afterwards.
    pub fn layers_key(&self) -> impl Eq + std::hash::Hash + '_ {
        (
            &self.arch,
            &self.platform,
            &self.context_dir,
            &self.dockerfile,
            &self.build_args,
            &self.target_stage,
            self.no_cache,
            self.pull,
            self.secrets.keys().collect::<Vec<_>>(),
        )
    }
}

/// One image of a release: what the record says about it, and the job when
/// there is something to build.
#[derive(Debug, Clone)]
pub struct PlannedImage {
    pub service: String,
    pub device_type: String,
    pub arch: String,
    pub platform: String,
    pub project_type: String,
    /// `name@version` of the plugin that planned it.
    pub plugin: Option<String>,
    /// The resolved Dockerfile.
    pub dockerfile: Option<String>,
    /// The tag built, or the prebuilt image's reference.
    pub reference: String,
    pub command: Option<Command>,
    /// `None` for a prebuilt image.
    pub job: Option<ImageJob>,
}

#[derive(Debug, thiserror::Error)]
pub enum LowerError {
    #[error("service `{service}`: context `{context}`: {source}")]
    Context {
        service: String,
        context: String,
        #[source]
        source: Box<SourceError>,
    },
    #[error("service `{service}`: build secret `{id}` from {file}: {source}")]
    Secret {
        service: String,
        id: String,
        file: String,
        #[source]
        source: Box<SourceError>,
    },
    #[error(
        "service `{service}`: the image name `{reference}` is too long for Docker \
         ({what} of {length} characters, at most {limit}): use a shorter app or service name"
    )]
    NameTooLong {
        service: String,
        reference: String,
        what: &'static str,
        length: usize,
        limit: usize,
    },
}

/// The images of a release: every service of every plan, in plan order.
pub fn lower(
    project: &ProjectDir,
    plans: &[BuildPlan],
    hash: &str,
    options: &LowerOptions,
) -> Result<Vec<PlannedImage>, LowerError> {
    let mut planned = Vec::new();
    for plan in plans {
        let target = &plan.target;
        for service in &plan.services {
            let base = PlannedImage {
                service: service.name.clone(),
                device_type: target.device_type.clone(),
                arch: target.arch.clone(),
                platform: target.platform.clone(),
                project_type: "image".into(),
                plugin: None,
                dockerfile: None,
                reference: String::new(),
                command: service.command.clone(),
                job: None,
            };
            let recipe = match &service.source {
                ServiceSource::Image { image } => {
                    planned.push(PlannedImage {
                        reference: image.clone(),
                        ..base
                    });
                    continue;
                }
                ServiceSource::Build(recipe) => recipe,
            };
            let context_dir =
                project
                    .context_path(&service.context)
                    .map_err(|source| LowerError::Context {
                        service: service.name.clone(),
                        context: service.context.clone(),
                        source: Box::new(source),
                    })?;
            let tag = crate::plan::tags::image_tag(&plan.app, &service.name, hash, &target.arch);
            check_name_length(&service.name, &tag)?;
            let mut build_args = recipe.build_args.clone();
            build_args.extend(options.build_args.clone());
            let mut labels = recipe.labels.clone();
            labels.extend([
                ("io.slipway.app".to_string(), plan.app.clone()),
                ("io.slipway.service".to_string(), service.name.clone()),
                ("io.slipway.release".to_string(), hash.to_string()),
                ("io.slipway.arch".to_string(), target.arch.clone()),
                (
                    "io.slipway.device-type".to_string(),
                    target.device_type.clone(),
                ),
            ]);
            if let Some(commit) = &options.commit {
                labels.insert("io.slipway.commit".into(), commit.clone());
            }
            let mut secrets = BTreeMap::new();
            for secret in &recipe.secrets {
                let bytes = project
                    .read_bytes(&secret.source, MAX_SECRET_BYTES)
                    .map_err(|source| LowerError::Secret {
                        service: service.name.clone(),
                        id: secret.id.clone(),
                        file: secret.source.clone(),
                        source: Box::new(source),
                    })?;
                secrets.insert(secret.id.clone(), SecretValue(bytes));
            }
            planned.push(PlannedImage {
                project_type: recipe.project_type.clone(),
                plugin: Some(recipe.plugin.to_string()),
                dockerfile: Some(recipe.dockerfile.content.clone()),
                reference: tag.clone(),
                job: Some(ImageJob {
                    service: service.name.clone(),
                    arch: target.arch.clone(),
                    platform: target.platform.clone(),
                    context_dir,
                    context_display: service.context.clone(),
                    dockerfile: recipe.dockerfile.content.clone(),
                    build_args,
                    labels,
                    target_stage: options
                        .target_stage
                        .clone()
                        .or_else(|| recipe.target_stage.clone()),
                    tag,
                    command: service.command.clone(),
                    no_cache: options.no_cache,
                    pull: options.pull,
                    secrets,
                }),
                ..base
            });
        }
    }
    Ok(planned)
}

/// Docker refuses a tag longer than 128 characters and a repository longer
/// than 255; found here, before anything is recorded or built.
fn check_name_length(service: &str, reference: &str) -> Result<(), LowerError> {
    let (repository, tag) = reference.rsplit_once(':').unwrap_or((reference, ""));
    for (what, length, limit) in [
        ("repository", repository.len(), MAX_REPOSITORY),
        ("tag", tag.len(), MAX_TAG),
    ] {
        if length > limit {
            return Err(LowerError::NameTooLong {
                service: service.to_string(),
                reference: reference.to_string(),
                what,
                length,
                limit,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_refused_before_building() {
        let long = "s".repeat(300);
        let error = check_name_length(&long, &format!("app/{long}:abc-amd64")).unwrap_err();
        assert!(error
            .to_string()
            .contains("repository of 304 characters, at most 255"));
        assert!(check_name_length("web", "app/web:abc-amd64").is_ok());
    }

    #[test]
    fn secrets_never_print() {
        let secret = SecretValue(b"hunter2".to_vec());
        assert_eq!(format!("{secret:?}"), "SecretValue(7 bytes, redacted)");
    }
}
