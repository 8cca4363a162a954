//! Compose files as the compose spec reads them: duplicate services refused
//! with both lines, `${VAR}` interpolation from `.env`, `extends` refused;
//! and plugin text reaching a terminal escaped.

mod common;

use common::{detect, slipway, TempProject};

#[test]
fn a_service_defined_twice_is_refused_naming_both_lines() {
    let project = TempProject::new(
        "dup",
        &[
            (
                "docker-compose.yml",
                "services:\n  web:\n    build: .\n  db:\n    image: postgres\n  web:\n    image: nginx\n",
            ),
            ("Dockerfile", "FROM busybox:slipway\n"),
        ],
    );
    let out = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 21, "{}", out.stderr);
    let errors = out.errors().join("\n");
    assert!(
        errors.contains("service `web` is defined twice (lines 2 and 6)"),
        "{errors}"
    );
}

#[test]
fn variables_are_interpolated_from_dot_env() {
    let project = TempProject::new(
        "interp",
        &[
            (
                "docker-compose.yml",
                "services:\n  api:\n    build:\n      context: ${API_DIR:-api}\n      args:\n        VERSION: ${VERSION}\n        PRICE: $$5\n  cache:\n    image: redis:${REDIS_TAG-7}\n",
            ),
            (".env", "# settings\nVERSION=1.4.2\nAPI_DIR=\"backend\"\n"),
            ("backend/Dockerfile", "FROM busybox:slipway\nARG VERSION\n"),
        ],
    );
    let out = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let api = out.service("api");
    assert_eq!(api["context"], "backend");
    assert_eq!(api["build_args"]["VERSION"], "1.4.2");
    assert_eq!(api["build_args"]["PRICE"], "$5");
    let cache = out.service("cache");
    assert_eq!(cache["image"], "redis:7", "{cache:#}");
}

#[test]
fn a_required_variable_that_is_unset_is_an_error() {
    let project = TempProject::new(
        "interp-required",
        &[(
            "docker-compose.yml",
            "services:\n  web:\n    image: app:${TAG:?set TAG in .env}\n",
        )],
    );
    let out = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 21);
    let errors = out.errors().join("\n");
    assert!(
        errors.contains("service `web`: variable `TAG` is required: set TAG in .env"),
        "{errors}"
    );
}

#[test]
fn a_context_linking_outside_is_named_as_such() {
    let project = TempProject::new(
        "link-out",
        &[(
            "docker-compose.yml",
            "services:\n  web:\n    build: linked\n",
        )],
    );
    std::os::unix::fs::symlink("/tmp", project.path().join("linked")).unwrap();
    let out = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 21);
    let errors = out.errors().join("\n");
    assert!(
        errors.contains("build context `linked` is a symlink leading outside the project"),
        "{errors}"
    );
}

#[test]
fn extends_is_refused_clearly() {
    let project = TempProject::new(
        "extends",
        &[(
            "docker-compose.yml",
            "services:\n  web:\n    extends:\n      file: common.yml\n      service: base\n",
        )],
    );
    let out = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 21);
    let errors = out.errors().join("\n");
    assert!(
        errors.contains("service `web`: `extends` is not supported"),
        "{errors}"
    );
}

/// Escape sequences in plugin text (here a package.json field the node
/// plugin quotes) never reach the terminal raw.
#[test]
fn control_characters_in_plugin_text_are_escaped() {
    let project = TempProject::new(
        "escapes",
        &[(
            "package.json",
            "{\"name\": \"x\", \"main\": \"index.js\", \"engines\": {\"node\": \"\\u001b]0;pwned\\u0007\\u001b[2J22\"}}",
        )],
    );
    std::fs::write(project.path().join("index.js"), "").unwrap();
    let out = slipway(&["detect", project.path_str(), "--device-type", "intel-nuc"]);
    let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
    assert!(!all.contains(&0x1b), "{}", String::from_utf8_lossy(&all));
    assert!(!all.contains(&0x07));
    assert!(String::from_utf8_lossy(&all).contains("\\x1b]0;pwned"));
}
