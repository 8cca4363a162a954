//! Detection rules and their priorities, through the real binary and the
//! real built-in plugin components.

mod common;

use common::{chosen_plugins, detect, project};

#[test]
fn plain_dockerfile_is_used_as_is() {
    let out = detect(&project("dockerfile"), "intel-nuc", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json["device_type"], "intel-nuc");
    assert_eq!(out.json["arch"], "amd64");
    assert_eq!(out.json["platform"], "linux/amd64");
    let main = out.service("main");
    assert_eq!(main["context"], ".");
    assert_eq!(main["project_type"], "dockerfile");
    assert_eq!(main["plugin_version"], "0.1.0");
    assert_eq!(
        main["dockerfile"],
        "FROM busybox:slipway\nCMD [\"echo\", \"hello\"]\n"
    );
}

#[test]
fn dockerfile_beats_package_json_and_both_are_reported() {
    let out = detect(&project("dockerfile-and-node"), "raspberrypi3", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let main = out.service("main");
    assert_eq!(main["project_type"], "dockerfile");
    assert_eq!(
        chosen_plugins(main),
        vec![
            ("dockerfile".to_string(), true),
            ("node".to_string(), false)
        ]
    );
}

#[test]
fn template_beats_dockerfile_and_is_substituted() {
    let out = detect(
        &project("template-over-dockerfile"),
        "raspberrypi4-64",
        &["--app", "fleet"],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let main = out.service("main");
    assert_eq!(main["project_type"], "dockerfile-template");
    assert_eq!(
        main["dockerfile"],
        "# Built for %%BALENA_MACHINE_NAME%% (comment lines are not substituted: %%NOT_A_VAR%%)\n\
         FROM busybox:slipway-aarch64\n\
         RUN echo \"fleet/main on raspberrypi4-64\" > /built-for\n"
    );
    assert_eq!(
        chosen_plugins(main),
        vec![
            ("dockerfile-template".to_string(), true),
            ("dockerfile".to_string(), false)
        ]
    );
}

#[test]
fn device_type_file_beats_arch_file_beats_template() {
    let pi4 = detect(&project("arch-files"), "raspberrypi4-64", &[]);
    assert_eq!(pi4.code, 0, "{}", pi4.stderr);
    let main = pi4.service("main");
    assert_eq!(main["project_type"], "arch-dockerfile");
    assert_eq!(main["dockerfile_path"], "Dockerfile.raspberrypi4-64");
    assert_eq!(
        main["dockerfile"],
        "FROM busybox:slipway-aarch64\nRUN echo device-file raspberrypi4-64\n"
    );
    let evidence = main["candidates"][0]["evidence"].to_string();
    assert!(
        evidence.contains("overridden by Dockerfile.raspberrypi4-64"),
        "{evidence}"
    );

    // Another aarch64 device has no device-type file: the arch file wins.
    let pi3 = detect(&project("arch-files"), "raspberrypi3-64", &[]);
    let main = pi3.service("main");
    assert_eq!(main["project_type"], "arch-dockerfile");
    assert_eq!(main["dockerfile_path"], "Dockerfile.aarch64");
    assert_eq!(
        main["dockerfile"],
        "FROM busybox:slipway-aarch64\nRUN echo arch-file\n"
    );
    assert_eq!(
        chosen_plugins(main),
        vec![
            ("arch-dockerfile".to_string(), true),
            ("dockerfile-template".to_string(), false)
        ]
    );

    // An amd64 device has neither: the template wins.
    let nuc = detect(&project("arch-files"), "intel-nuc", &[]);
    let main = nuc.service("main");
    assert_eq!(main["project_type"], "dockerfile-template");
    assert_eq!(
        main["dockerfile"],
        "FROM busybox:slipway-amd64\nRUN echo template\n"
    );
}

#[test]
fn node_with_lockfile_and_engines_range() {
    let out = detect(&project("node-lockfile"), "raspberrypi4-64", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let main = out.service("main");
    assert_eq!(main["project_type"], "node");
    let dockerfile = main["dockerfile"].as_str().unwrap();
    assert!(
        dockerfile.contains("FROM arm64v8/node:20-bookworm-slim\n"),
        "{dockerfile}"
    );
    assert!(
        dockerfile.contains("COPY package.json package-lock.json ./\n"),
        "{dockerfile}"
    );
    assert!(dockerfile.contains("RUN npm ci\n"), "{dockerfile}");
    assert!(
        dockerfile.contains("RUN npm prune --omit=dev\n"),
        "{dockerfile}"
    );
    assert!(
        dockerfile.contains(r#"CMD ["npm","start"]"#),
        "{dockerfile}"
    );
    assert!(main["notes"]
        .to_string()
        .contains("selects Node.js 20.18.1"));
}

#[test]
fn node_without_engines_uses_default_lts_and_main() {
    let out = detect(&project("node-default"), "intel-nuc", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let main = out.service("main");
    let dockerfile = main["dockerfile"].as_str().unwrap();
    assert!(
        dockerfile.contains("FROM amd64/node:22-bookworm-slim\n"),
        "{dockerfile}"
    );
    assert!(dockerfile.contains("RUN npm install\n"), "{dockerfile}");
    assert!(
        dockerfile.contains(r#"CMD ["node","index.js"]"#),
        "{dockerfile}"
    );
    assert!(main["notes"]
        .to_string()
        .contains("default LTS, Node.js 22.12.0"));
}

#[test]
fn node_range_nothing_satisfies_names_range_and_offer() {
    let out = detect(&project("node-range-unsatisfied"), "intel-nuc", &[]);
    assert_eq!(out.code, 21);
    let errors = out.errors().join("\n");
    assert!(errors.contains(r#"engines.node "^12.0.0""#), "{errors}");
    assert!(
        errors.contains("24.11.1, 22.12.0, 20.18.1, 18.20.5"),
        "{errors}"
    );
}

#[test]
fn malformed_package_json_gives_line_and_column() {
    let not_object = detect(&project("node-not-object"), "intel-nuc", &[]);
    assert_eq!(not_object.code, 21);
    let errors = not_object.errors().join("\n");
    assert!(
        errors.contains("package.json:2:3: package.json must be a JSON object, found an array"),
        "{errors}"
    );

    let bad_json = detect(&project("node-bad-json"), "intel-nuc", &[]);
    assert_eq!(bad_json.code, 21);
    let errors = bad_json.errors().join("\n");
    assert!(
        errors.contains("package.json:5:0: invalid JSON: EOF while parsing"),
        "{errors}"
    );
    assert!(
        bad_json.stderr.contains("package.json:5:0"),
        "{}",
        bad_json.stderr
    );
}

#[test]
fn node_with_nothing_to_start_is_a_clear_error() {
    let out = detect(&project("node-nothing-to-start"), "intel-nuc", &[]);
    assert_eq!(out.code, 21);
    assert!(out
        .errors()
        .join("\n")
        .contains("nothing to start: add scripts.start"));
}

#[test]
fn compose_services_of_different_kinds() {
    let out = detect(&project("compose"), "raspberrypi4-64", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json["composition"]["kind"], "compose");
    assert_eq!(out.json["composition"]["file"], "docker-compose.yml");
    assert_eq!(out.json["services"].as_array().unwrap().len(), 4);

    let web = out.service("web");
    assert_eq!(
        (web["context"].as_str(), web["project_type"].as_str()),
        (Some("web"), Some("dockerfile-template"))
    );
    assert_eq!(
        web["dockerfile"],
        "FROM busybox:slipway-aarch64\nRUN echo web\n"
    );

    let api = out.service("api");
    assert_eq!(api["project_type"], "dockerfile");
    // balena.yml global + per-service variables, compose args win on conflict.
    assert_eq!(api["build_args"]["API_MODE"], "compose");
    assert_eq!(api["build_args"]["SHARED"], "from-compose");
    assert_eq!(api["build_args"]["REGION"], "eu");
    assert_eq!(api["build_args"]["API_TOKEN_NAME"], "builder");
    assert!(api["notes"]
        .to_string()
        .contains("build arg SHARED: the compose file's value overrides .balena/balena.yml"));

    let worker = out.service("worker");
    assert_eq!(worker["project_type"], "node");
    assert_eq!(worker["build_args"]["SHARED"], "from-balena");

    let cache = out.service("cache");
    assert_eq!(cache["project_type"], "image");
    assert_eq!(cache["image"], "redis:slipway");
}

#[test]
fn compose_named_dockerfile_and_target_stage() {
    let out = detect(&project("compose-named-dockerfile"), "intel-nuc", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let app = out.service("app");
    assert_eq!(app["dockerfile_path"], "Dockerfile.production");
    assert_eq!(app["target_stage"], "runtime");
    assert!(app["dockerfile"].as_str().unwrap().contains("AS runtime"));
}

#[test]
fn compose_pointing_at_a_missing_context_names_the_service() {
    let out = detect(&project("compose-missing-context"), "intel-nuc", &[]);
    assert_eq!(out.code, 21);
    let errors = out.errors().join("\n");
    assert!(
        errors.contains(
            "docker-compose.yml: service `ghost`: build context `not-here` does not exist"
        ),
        "{errors}"
    );
}

#[test]
fn billion_laughs_compose_fails_fast() {
    // The parser refuses the expansion itself: the error is its repetition
    // limit, not the CPU deadline or the memory cap catching a runaway.
    let out = detect(&project("billion-laughs"), "intel-nuc", &[]);
    assert_eq!(out.code, 21);
    let errors = out.errors().join("\n");
    assert!(
        errors.contains("docker-compose.yml: invalid compose file: repetition limit exceeded"),
        "{errors}"
    );
    assert!(
        !errors.contains("deadline") && !errors.contains("memory"),
        "{errors}"
    );
}

#[test]
fn nothing_detectable_exits_20_and_lists_what_was_looked_for() {
    let out = detect(&project("nothing"), "intel-nuc", &[]);
    assert_eq!(out.code, 20);
    let errors = out.errors().join("\n");
    // One plugin a line: its name, then the files it looks for.
    for looked_for in [
        "\n  arch-dockerfile: Dockerfile.*",
        "\n  dockerfile-template: Dockerfile.template",
        "\n  dockerfile: Dockerfile",
        "\n  node: package.json",
    ] {
        assert!(
            errors.contains(looked_for),
            "{looked_for} missing from: {errors}"
        );
    }
}

#[test]
fn nothing_detected_names_what_the_project_seems_to_be() {
    let project = common::TempProject::new(
        "ruby-app",
        &[
            ("Gemfile", "source 'https://rubygems.org'\n"),
            ("app.rb", ""),
        ],
    );
    let out = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 20);
    let errors = out.errors().join("\n");
    assert!(
        errors.contains("Gemfile: this looks like Ruby, which no loaded plugin builds")
            && errors.contains("`slipway plugin new ruby`"),
        "{errors}"
    );
}

#[test]
fn unknown_template_variable_names_file_line_and_variable() {
    let out = detect(&project("unknown-variable"), "intel-nuc", &[]);
    assert_eq!(out.code, 21);
    let errors = out.errors().join("\n");
    assert!(
        errors.contains("Dockerfile.template:4: unknown template variable %%BALENA_SECRET_SAUCE%%"),
        "{errors}"
    );
}

#[test]
fn more_than_one_balena_config_is_an_error() {
    let out = detect(&project("two-balena-configs"), "intel-nuc", &[]);
    assert_eq!(out.code, 21);
    assert!(out
        .errors()
        .join("\n")
        .contains(".balena/balena.yml, .resin/resin.yml"));
}

#[test]
fn unknown_device_type_suggests_near_matches() {
    let out = common::slipway(&["detect", ".", "--device-type", "raspberrypi4"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown device type `raspberrypi4`; did you mean raspberrypi4-64"),
        "{stderr}"
    );
}

#[test]
fn human_output_is_a_table_per_service() {
    let path = project("compose");
    let out = common::slipway(&[
        "detect",
        path.to_str().unwrap(),
        "--device-type",
        "intel-nuc",
        "--show-dockerfile",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("SERVICE  PROJECT TYPE"), "{stdout}");
    assert!(
        stdout.contains("* web      dockerfile-template  dockerfile-template@0.1.0"),
        "{stdout}"
    );
    assert!(stdout.contains("FROM busybox:slipway-amd64"), "{stdout}");
    assert!(
        stdout.contains("cache: prebuilt image redis:slipway"),
        "{stdout}"
    );
}

#[test]
fn plugin_list_shows_builtins_with_digests() {
    let out = common::slipway(&["plugin", "list", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = json["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        // Ranked: by priority, highest first.
        [
            "arch-dockerfile",
            "dockerfile-template",
            "dockerfile",
            "node",
            "python",
            "go",
            "rust",
            "static",
            "compose",
            "procfile"
        ]
    );
    for plugin in json["plugins"].as_array().unwrap() {
        assert_eq!(plugin["contract_version"], "0.2.0");
        assert_eq!(plugin["sha256"].as_str().unwrap().len(), 64);
    }
}
