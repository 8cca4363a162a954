//! Node.js projects as real projects are laid out: a build step, package
//! managers, single-page apps, monorepos, version pins. Detection through
//! `slipway detect`; the TypeScript-style and SPA builds on the real engine,
//! from the local Node image, with their containers answering over HTTP.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{build, detect, docker, docker_available, root, TempProject};

fn example(name: &str) -> std::path::PathBuf {
    root().join("examples").join(name)
}

use common::{main_dockerfile as dockerfile, main_notes as notes};

#[test]
fn a_typescript_app_is_built_with_dev_dependencies_then_pruned() {
    let out = detect(&example("node-typescript"), "raspberrypi4-64", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = dockerfile(&out);
    assert!(
        text.contains("FROM arm64v8/node:20-bookworm-slim AS build\n"),
        "{text}"
    );
    assert!(text.contains("COPY package.json ./\nRUN npm install\nCOPY . .\nRUN npm run build\nRUN npm prune --omit=dev\n"), "{text}");
    assert!(text.contains("USER 1000:1000\n"), "{text}");
    assert!(text.ends_with("CMD [\"npm\",\"start\"]\n"), "{text}");
    assert!(
        !text.contains("--omit=dev\nRUN npm run build"),
        "dev deps stay for the build"
    );
}

#[test]
fn pnpm_and_yarn_berry_install_with_their_own_tool() {
    let pnpm = detect(&example("node-pnpm"), "intel-nuc", &[]);
    assert_eq!(pnpm.code, 0, "{}", pnpm.stderr);
    let text = dockerfile(&pnpm);
    assert!(
        text.contains("COPY package.json pnpm-lock.yaml ./\n"),
        "{text}"
    );
    assert!(
        text.contains("RUN corepack enable && pnpm install --frozen-lockfile\n"),
        "{text}"
    );
    assert!(
        text.contains("RUN corepack enable && pnpm prune --prod\n"),
        "{text}"
    );
    assert!(
        notes(&pnpm).contains("pnpm-lock.yaml: pnpm installs"),
        "{}",
        notes(&pnpm)
    );
    assert!(!notes(&pnpm).contains("no lockfile"));

    let yarn = detect(&example("node-yarn-berry"), "intel-nuc", &[]);
    assert_eq!(yarn.code, 0, "{}", yarn.stderr);
    let text = dockerfile(&yarn);
    assert!(
        text.contains("COPY package.json yarn.lock .yarnrc.yml ./\n"),
        "{text}"
    );
    assert!(
        text.contains("RUN corepack enable && yarn install --immutable\n"),
        "{text}"
    );
    assert!(
        text.contains("yarn workspaces focus --all --production"),
        "{text}"
    );

    let classic = TempProject::new(
        "yarn1",
        &[
            (
                "package.json",
                r#"{"name": "y", "scripts": {"start": "node i.js"}}"#,
            ),
            ("yarn.lock", "# yarn lockfile v1\n"),
        ],
    );
    let out = detect(classic.path(), "intel-nuc", &[]);
    assert!(dockerfile(&out).contains("RUN yarn install --frozen-lockfile\n"));
    assert!(dockerfile(&out).ends_with("CMD [\"yarn\",\"start\"]\n"));
}

#[test]
fn bun_and_a_mismatched_package_manager_are_named() {
    let bun = TempProject::new(
        "bun",
        &[
            (
                "package.json",
                r#"{"name": "b", "scripts": {"start": "bun run i.ts"}}"#,
            ),
            ("bun.lockb", ""),
        ],
    );
    let out = detect(bun.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 21);
    assert!(
        out.errors().join("\n").contains("a Bun project"),
        "{:?}",
        out.errors()
    );

    let mismatch = TempProject::new(
        "mismatch",
        &[
            (
                "package.json",
                r#"{"name": "m", "packageManager": "pnpm@9.1.0", "scripts": {"start": "x"}}"#,
            ),
            ("package-lock.json", "{}"),
        ],
    );
    let out = detect(mismatch.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 21);
    assert!(
        out.errors()
            .join("\n")
            .contains("packageManager names pnpm but the lockfile is package-lock.json (npm)"),
        "{:?}",
        out.errors()
    );
}

#[test]
fn a_vite_spa_is_built_and_served_as_static_files() {
    let out = detect(&example("vite-spa"), "raspberrypi4-64", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = dockerfile(&out);
    assert!(text.contains("RUN npm run build\n"), "{text}");
    assert!(
        text.contains("FROM arm64v8/busybox:1.36\nCOPY --from=build /usr/src/app/dist/ /www/\n"),
        "{text}"
    );
    assert!(
        notes(&out).contains("`dist/` (vite's default)"),
        "{}",
        notes(&out)
    );
}

#[test]
fn a_workspaces_monorepo_names_its_apps_and_builds_one_with_context() {
    let out = detect(&example("npm-workspaces"), "intel-nuc", &[]);
    assert_eq!(out.code, 21);
    let errors = out.errors().join("\n");
    assert!(
        errors
            .contains("a monorepo: package.json declares workspaces (packages/api, packages/web)"),
        "{errors}"
    );
    assert!(errors.contains("--context packages/api"), "{errors}");
    let api = detect(
        &example("npm-workspaces"),
        "intel-nuc",
        &["--context", "packages/api"],
    );
    assert_eq!(api.code, 0, "{}", api.stderr);
    assert_eq!(api.service("main")["context"], "packages/api");
}

#[test]
fn nvmrc_and_node_version_pins_are_honoured() {
    let out = detect(&example("node-nvmrc"), "intel-nuc", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(dockerfile(&out).contains("FROM amd64/node:18-bookworm-slim AS build\n"));
    assert!(
        notes(&out).contains(".nvmrc \"lts/hydrogen\" selects Node.js 18.20.5"),
        "{}",
        notes(&out)
    );

    for (file, pin, image) in [
        (".nvmrc", "v20.11.1", "amd64/node:20-bookworm-slim"),
        (".node-version", "16", "amd64/node:16-bullseye-slim"),
        (".nvmrc", "lts/*", "amd64/node:22-bookworm-slim"),
    ] {
        let project = TempProject::new(
            "pinned",
            &[
                (file, pin),
                (
                    "package.json",
                    r#"{"name": "p", "scripts": {"start": "node ."}}"#,
                ),
            ],
        );
        let out = detect(project.path(), "intel-nuc", &[]);
        assert_eq!(out.code, 0, "{pin}: {}", out.stderr);
        assert!(
            dockerfile(&out).contains(&format!("FROM {image} AS build\n")),
            "{pin}: {}",
            dockerfile(&out)
        );
    }
    let project = TempProject::new(
        "old-engine",
        &[(
            "package.json",
            r#"{"name": "p", "engines": {"node": "14.x"}, "scripts": {"start": "node ."}}"#,
        )],
    );
    let out = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(dockerfile(&out).contains("FROM amd64/node:14-bullseye-slim AS build\n"));
}

#[test]
fn armv6_has_no_node_image_and_says_so() {
    let out = detect(&example("node-nvmrc"), "raspberry-pi", &[]);
    assert_eq!(out.code, 21, "{}", out.stderr);
    assert!(
        out.errors()
            .join("\n")
            .contains("Node.js publishes no official image for rpi"),
        "{:?}",
        out.errors()
    );
}

/// A GET / against a container's published port, retried while it starts.
fn http_get(container: &str, port: u16) -> String {
    let published = docker(&["port", container, &format!("{port}/tcp")]);
    let address = published.lines().next().unwrap().trim().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(&address) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = stream.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n");
            let mut answer = String::new();
            if stream.read_to_string(&mut answer).is_ok() && answer.starts_with("HTTP/") {
                return answer;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{container} never answered on {address}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["rm", "-f", &self.0])
            .output();
    }
}

fn run_detached(tag: &str, port: u16) -> Container {
    Container(docker(&[
        "run",
        "-d",
        "-p",
        &format!("127.0.0.1::{port}"),
        tag,
    ]))
}

/// Offline stand-in for a TypeScript project: the build needs a dev
/// dependency (a local package with a bin) that must be gone afterwards.
#[test]
fn a_node_app_with_a_build_step_runs_on_the_engine() {
    if !docker_available("node_build_step") {
        return;
    }
    let project = TempProject::new(
        "ts-like",
        &[
            (
                "package.json",
                r#"{"name": "ts-like", "version": "1.0.0",
                    "scripts": {"build": "strip-types src/server.ts dist/server.js", "start": "node dist/server.js"},
                    "engines": {"node": "18.x"},
                    "devDependencies": {"strip-types": "file:tools/strip-types"}}"#,
            ),
            (
                "tools/strip-types/package.json",
                r#"{"name": "strip-types", "version": "1.0.0", "bin": {"strip-types": "cli.js"}}"#,
            ),
            (
                "tools/strip-types/cli.js",
                "#!/usr/bin/env node\nconst fs = require('fs');\nconst [src, out] = process.argv.slice(2);\n\
                 const js = fs.readFileSync(src, 'utf8').replace(/: (number|string)/g, '');\n\
                 fs.mkdirSync(require('path').dirname(out), {recursive: true});\nfs.writeFileSync(out, js);\n",
            ),
            (
                "src/server.ts",
                "const port: number = 8080;\nrequire('http').createServer((q, r) => r.end('built and running\\n')).listen(port);\n",
            ),
        ],
    );
    std::fs::set_permissions(
        project.path().join("tools/strip-types/cli.js"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let data = tempfile::tempdir().unwrap();
    let run = build(data.path(), project.path(), &["intel-nuc"], &[]);
    assert_eq!(run.code, 0, "{}\n{:?}", run.stderr, run.events);
    // The local dev dependency is copied before the install that needs it.
    let shown = detect(project.path(), "intel-nuc", &[]);
    assert!(dockerfile(&shown)
        .contains("COPY tools/strip-types ./tools/strip-types\nRUN npm install\n"));
    let tag = run.image("main", "amd64")["image"]
        .as_str()
        .unwrap()
        .to_string();
    let container = run_detached(&tag, 8080);
    let answer = http_get(&container.0, 8080);
    assert!(answer.ends_with("built and running\n"), "{answer}");
    // Dev dependencies are pruned, and the process is not root.
    let listing = docker(&[
        "run",
        "--rm",
        &tag,
        "sh",
        "-c",
        "ls node_modules 2>&1; id -u",
    ]);
    assert!(!listing.contains("strip-types"), "{listing}");
    assert!(listing.trim_end().ends_with("1000"), "{listing}");
}

/// Offline stand-in for a Vite app: a build script and no server.
#[test]
fn a_single_page_app_is_served_by_httpd() {
    if !docker_available("spa") {
        return;
    }
    let project = TempProject::new(
        "spa",
        &[
            (
                "package.json",
                r#"{"name": "spa", "private": true, "engines": {"node": "18.x"},
                    "scripts": {"build": "node build.js"}}"#,
            ),
            (
                "build.js",
                "const fs = require('fs');\nfs.mkdirSync('dist', {recursive: true});\n\
                 fs.writeFileSync('dist/index.html', '<!doctype html><p>single page app</p>\\n');\n",
            ),
        ],
    );
    let data = tempfile::tempdir().unwrap();
    let run = build(data.path(), project.path(), &["intel-nuc"], &[]);
    assert_eq!(run.code, 0, "{}\n{:?}", run.stderr, run.events);
    let tag = run.image("main", "amd64")["image"]
        .as_str()
        .unwrap()
        .to_string();
    let container = run_detached(&tag, 80);
    let answer = http_get(&container.0, 80);
    assert!(answer.contains("<p>single page app</p>"), "{answer}");
    // Only the build's output is in the image, not the sources.
    let listing = docker(&["run", "--rm", &tag, "ls", "/www"]);
    assert_eq!(listing, "index.html");
}
