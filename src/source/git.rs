//! A project from a git commit, read with libgit2 straight from the object
//! database (no checkout, no index, no hooks run), and repositories fetched
//! from a URL. Names in trees are checked like archive entries.

use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid, Repository};

use super::unpack::{clean_path, Budget, Destination, UnpackError, UnpackLimits};

#[derive(Debug, thiserror::Error)]
pub enum GitSourceError {
    #[error("git repository {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error("`{spec}` is not a commit in {repo}: {source}")]
    NoCommit {
        spec: String,
        repo: String,
        #[source]
        source: git2::Error,
    },
    #[error("fetching {what} from {url}: {source}")]
    Fetch {
        url: String,
        what: String,
        #[source]
        source: git2::Error,
    },
    #[error("reading commit {commit}: {source}")]
    Read {
        commit: String,
        #[source]
        source: git2::Error,
    },
    #[error(transparent)]
    Unpack(#[from] UnpackError),
}

/// Opens a bare repository; `incoming` adds an object directory (the
/// quarantine of a push being received) whose objects are not in it yet.
pub fn open(repo: &Path, incoming: Option<&Path>) -> Result<Repository, GitSourceError> {
    let open_error = |source| GitSourceError::Open {
        path: repo.to_path_buf(),
        source,
    };
    let repository = Repository::open_bare(repo).map_err(open_error)?;
    if let Some(objects) = incoming {
        repository
            .odb()
            .and_then(|odb| odb.add_disk_alternate(&objects.to_string_lossy()))
            .map_err(open_error)?;
    }
    Ok(repository)
}

/// The full id of the commit `spec` names (an id, a prefix, a ref).
pub fn resolve(repo: &Repository, spec: &str) -> Result<Oid, GitSourceError> {
    repo.revparse_single(spec)
        .and_then(|object| object.peel_to_commit())
        .map(|commit| commit.id())
        .map_err(|source| GitSourceError::NoCommit {
            spec: spec.chars().take(100).collect(),
            repo: repo.path().display().to_string(),
            source,
        })
}

/// Writes the tree of `commit` into `dest` (which must not exist yet).
/// Submodules are skipped: their commits are not in this repository.
pub fn write_commit(
    repo: &Repository,
    commit: Oid,
    dest: &Path,
    limits: UnpackLimits,
) -> Result<(), GitSourceError> {
    let read_error = |source| GitSourceError::Read {
        commit: commit.to_string(),
        source,
    };
    let tree = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(read_error)?;
    let mut destination = Destination::create(dest)?;
    let mut budget = Budget::new(limits);
    let mut pending = vec![(PathBuf::new(), tree)];
    let odb = repo.odb().map_err(read_error)?;
    while let Some((at, tree)) = pending.pop() {
        for entry in tree.iter() {
            budget.entry()?;
            let name = String::from_utf8_lossy(entry.name_bytes()).into_owned();
            if name.contains('/') {
                return Err(UnpackError::Entry {
                    entry: name,
                    reason: "a `/` in a tree entry's name".into(),
                }
                .into());
            }
            let raw = at.join(&name).to_string_lossy().into_owned();
            let Some(path) = clean_path(&raw)? else {
                continue;
            };
            match (entry.kind(), entry.filemode()) {
                (Some(ObjectType::Tree), _) => {
                    destination.dir(&path)?;
                    let subtree = repo.find_tree(entry.id()).map_err(read_error)?;
                    pending.push((path, subtree));
                }
                (Some(ObjectType::Blob), mode) => {
                    // Sized before it is loaded: a huge blob fails on the budget.
                    let (size, _) = odb.read_header(entry.id()).map_err(read_error)?;
                    if size as u64 > limits.max_bytes {
                        return Err(UnpackError::TooLarge {
                            entry: raw,
                            limit: limits.max_bytes,
                        }
                        .into());
                    }
                    let blob = repo.find_blob(entry.id()).map_err(read_error)?;
                    if mode == 0o120000 {
                        let target = String::from_utf8_lossy(blob.content()).into_owned();
                        destination.symlink(&path, &raw, &target)?;
                    } else {
                        let executable = mode & 0o111 != 0;
                        // Objects are stored compressed already: no ratio to check.
                        destination.file(
                            &path,
                            &raw,
                            executable,
                            &mut blob.content(),
                            &mut budget,
                            &|| u64::MAX,
                        )?;
                    }
                }
                // A submodule's commit lives in another repository.
                (Some(ObjectType::Commit), _) => {}
                _ => {}
            }
        }
    }
    Ok(())
}

/// Writes the commit `spec` names (in the bare repository at `repo`, plus an
/// `incoming` object directory) into `dest`; on failure nothing is left at
/// `dest`. Returns the commit's id. Blocking.
pub fn write_spec(
    repo: &Path,
    incoming: Option<&Path>,
    spec: &str,
    dest: &Path,
) -> Result<Oid, GitSourceError> {
    let written = open(repo, incoming).and_then(|repository| {
        let oid = resolve(&repository, spec)?;
        write_commit(&repository, oid, dest, UnpackLimits::default())?;
        Ok(oid)
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(dest);
    }
    written
}

/// Fetches `refspec` (a branch, a ref or a commit id) from `url` into the
/// bare repository at `repo` (created if missing) and returns the commit.
pub fn fetch(repo: &Path, url: &str, what: &str) -> Result<Oid, GitSourceError> {
    let repository = match Repository::open_bare(repo) {
        Ok(found) => found,
        Err(_) => Repository::init_bare(repo).map_err(|source| GitSourceError::Open {
            path: repo.to_path_buf(),
            source,
        })?,
    };
    let fetch_error = |source| GitSourceError::Fetch {
        url: url.to_string(),
        what: what.to_string(),
        source,
    };
    let mut remote = repository.remote_anonymous(url).map_err(fetch_error)?;
    let is_id = what.len() == 40 && what.bytes().all(|b| b.is_ascii_hexdigit());
    // A commit is fetched with the branches that reach it: servers need not
    // serve objects by id.
    let refspec = if is_id {
        "+refs/heads/*:refs/slipway/remote/*".to_string()
    } else if what.starts_with("refs/") || what == "HEAD" {
        format!("+{what}:refs/slipway/fetched")
    } else {
        format!("+refs/heads/{what}:refs/slipway/fetched")
    };
    let mut options = git2::FetchOptions::new();
    options.download_tags(git2::AutotagOption::None);
    remote
        .fetch(&[&refspec], Some(&mut options), None)
        .map_err(fetch_error)?;
    if is_id {
        let oid = Oid::from_str(what).map_err(fetch_error)?;
        repository.find_commit(oid).map_err(fetch_error)?;
        return Ok(oid);
    }
    resolve(&repository, "refs/slipway/fetched")
}
