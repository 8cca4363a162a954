//! `slipway plugin test DIR`: the plugin against each project under its
//! `tests/fixtures/`, each with the expected answer beside it in
//! `tests/fixtures/NAME.expected`: a project type, `nothing`, or
//! `error: TEXT` (a part of the error's message). No Docker engine needed.

use std::path::{Path, PathBuf};

use slipway::plan::Target;
use slipway::plugin_host::{LoadedPlugin, PluginHost};

use super::super::{exit, PluginArgs};

/// The most fixtures one run reads (each is a directory the plugin is run on).
const MAX_FIXTURES: usize = 1_000;

#[derive(Debug, PartialEq, Eq)]
enum Expected {
    ProjectType(String),
    Nothing,
    Error(String),
}

fn parse_expected(text: &str) -> Option<Expected> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    Some(if line == "nothing" {
        Expected::Nothing
    } else if let Some(text) = line.strip_prefix("error:") {
        Expected::Error(text.trim().to_string())
    } else {
        Expected::ProjectType(line.to_string())
    })
}

/// What the plugin said about one fixture: detect, then plan when it claims it.
fn outcome(
    host: &PluginHost,
    plugin: &LoadedPlugin,
    dir: &Path,
    target: &Target,
) -> Result<Option<String>, String> {
    let detection = host
        .detect(plugin, dir, target)
        .map_err(|e| e.to_string())?;
    let Some(detection) = detection else {
        return Ok(None);
    };
    // A claimed project must also plan: a plan error is the fixture's answer.
    host.plan(plugin, dir, target).map_err(|e| e.to_string())?;
    Ok(Some(detection.project_type))
}

fn verdict(expected: &Expected, got: &Result<Option<String>, String>) -> Result<(), String> {
    match (expected, got) {
        (Expected::ProjectType(want), Ok(Some(have))) if want == have => Ok(()),
        (Expected::Nothing, Ok(None)) => Ok(()),
        (Expected::Error(part), Err(message)) if message.contains(part.as_str()) => Ok(()),
        (_, got) => Err(match got {
            Ok(Some(have)) => format!("detected `{have}`"),
            Ok(None) => "nothing detected".into(),
            Err(message) => format!("error: {message}"),
        }),
    }
}

fn describe(expected: &Expected) -> String {
    match expected {
        Expected::ProjectType(t) => format!("`{t}`"),
        Expected::Nothing => "nothing".into(),
        Expected::Error(part) => format!("an error containing `{part}`"),
    }
}

pub(crate) fn run(
    dir: &Path,
    wasm: Option<&Path>,
    device_type: &str,
    plugins: &PluginArgs,
) -> anyhow::Result<u8> {
    let device = match slipway::target::lookup(device_type) {
        Ok(device) => device,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    let fixtures_dir = dir.join("tests/fixtures");
    let mut fixtures: Vec<PathBuf> = match std::fs::read_dir(&fixtures_dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .take(MAX_FIXTURES + 1)
            .collect(),
        Err(e) => {
            eprintln!(
                "error: {}: {e} (fixtures are projects under tests/fixtures/)",
                fixtures_dir.display()
            );
            return Ok(exit::USAGE);
        }
    };
    if fixtures.len() > MAX_FIXTURES {
        eprintln!(
            "error: {}: more than {MAX_FIXTURES} fixtures",
            fixtures_dir.display()
        );
        return Ok(exit::USAGE);
    }
    fixtures.sort();
    let wasm = match wasm {
        Some(wasm) => wasm.to_path_buf(),
        None => match super::compile(dir)? {
            Ok(wasm) => wasm,
            Err(code) => return Ok(code),
        },
    };
    let host = plugins.host()?;
    let plugin = match host.load_file(&wasm) {
        Ok(plugin) => plugin,
        Err(e) => {
            eprintln!("error: {}: not a usable plugin: {e}", wasm.display());
            return Ok(exit::INVALID);
        }
    };
    let target = device.target();
    let (mut passed, mut failed) = (0, 0);
    let mut report = String::new();
    for fixture in &fixtures {
        let name = fixture
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let expected_file = fixtures_dir.join(format!("{name}.expected"));
        let expected = match std::fs::read_to_string(&expected_file) {
            Ok(text) => match parse_expected(&text) {
                Some(expected) => expected,
                None => {
                    report.push_str(&format!(
                        "FAIL {name}: {} is empty\n",
                        expected_file.display()
                    ));
                    failed += 1;
                    continue;
                }
            },
            Err(e) => {
                report.push_str(&format!("FAIL {name}: {}: {e}\n", expected_file.display()));
                failed += 1;
                continue;
            }
        };
        let got = outcome(&host, &plugin, fixture, &target);
        match verdict(&expected, &got) {
            Ok(()) => {
                passed += 1;
                report.push_str(&format!("ok   {name}: {}\n", describe(&expected)));
            }
            Err(have) => {
                failed += 1;
                report.push_str(&format!(
                    "FAIL {name}: expected {}, got {have}\n",
                    describe(&expected)
                ));
            }
        }
    }
    report.push_str(&format!(
        "{} on {}: {passed} passed, {failed} failed\n",
        plugin.reference(),
        device.slug
    ));
    super::super::emit(&report);
    Ok(if failed == 0 { exit::OK } else { exit::FAILURE })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_answers_parse() {
        assert_eq!(
            parse_expected("# comment\n\nnode\n"),
            Some(Expected::ProjectType("node".into()))
        );
        assert_eq!(parse_expected("nothing"), Some(Expected::Nothing));
        assert_eq!(
            parse_expected("error: no start"),
            Some(Expected::Error("no start".into()))
        );
        assert_eq!(parse_expected("\n# only a comment\n"), None);
    }

    #[test]
    fn verdicts_compare_the_right_things() {
        let t = Expected::ProjectType("x".into());
        assert!(verdict(&t, &Ok(Some("x".into()))).is_ok());
        assert_eq!(verdict(&t, &Ok(None)), Err("nothing detected".into()));
        let e = Expected::Error("boom".into());
        assert!(verdict(&e, &Err("plan: boom here".into())).is_ok());
        assert_eq!(
            verdict(&e, &Ok(Some("x".into()))),
            Err("detected `x`".into())
        );
    }
}
