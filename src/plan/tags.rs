//! How built images are named.
//!
//! `<app>/<service>:<release hash, 12 digits>-<arch>`, e.g.
//! `fleet-demo/api:3f9c2a71b0de-aarch64`: one repository per service of an
//! app, one tag per release and arch, so every image of every release stays
//! addressable side by side. Names are lowercased and characters Docker does
//! not allow in repository names become `-`.

pub fn image_tag(app: &str, service: &str, release_hash: &str, arch: &str) -> String {
    let hash: String = release_hash.chars().take(12).collect();
    format!(
        "{}/{}:{}-{}",
        repository_component(app),
        repository_component(service),
        hash,
        tag_component(arch)
    )
}

/// A path component of a repository name: `[a-z0-9]+([._-][a-z0-9]+)*`.
fn repository_component(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with(['.', '_', '-']) {
            out.push(if matches!(c, '.' | '_') { c } else { '-' });
        }
    }
    let trimmed = out.trim_end_matches(['.', '_', '-']);
    if trimmed.is_empty() {
        "unnamed".into()
    } else {
        trimmed.to_string()
    }
}

fn tag_component(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::image_tag;

    #[test]
    fn names_are_valid_docker_references() {
        assert_eq!(
            image_tag("Fleet Demo", "API_v2", "3f9c2a71b0de4455", "aarch64"),
            "fleet-demo/api_v2:3f9c2a71b0de-aarch64"
        );
        assert_eq!(
            image_tag("--", "main", "ab", "amd64"),
            "unnamed/main:ab-amd64"
        );
    }
}
