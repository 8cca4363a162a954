//! What a project seems to be when no plugin claims it, from its marker
//! files, so "nothing detected" can say "this looks like Ruby" and how to
//! add support, instead of only listing what was looked for.

/// Marker file (exact name, or `*.ext`) -> language.
const MARKERS: &[(&str, &str)] = &[
    ("Gemfile", "Ruby"),
    ("config.ru", "Ruby"),
    ("composer.json", "PHP"),
    ("pom.xml", "Java (Maven)"),
    ("build.gradle", "Java (Gradle)"),
    ("build.gradle.kts", "Kotlin (Gradle)"),
    ("build.sbt", "Scala"),
    ("mix.exs", "Elixir"),
    ("rebar.config", "Erlang"),
    ("*.csproj", ".NET"),
    ("*.fsproj", ".NET"),
    ("*.sln", ".NET"),
    ("deno.json", "Deno"),
    ("deno.jsonc", "Deno"),
    ("Package.swift", "Swift"),
    ("pubspec.yaml", "Dart"),
    ("stack.yaml", "Haskell"),
    ("*.cabal", "Haskell"),
    ("dune-project", "OCaml"),
    ("CMakeLists.txt", "C/C++ (CMake)"),
    ("Makefile", "a Makefile project"),
    ("meson.build", "C/C++ (Meson)"),
    ("build.zig", "Zig"),
    ("Project.toml", "Julia"),
    ("DESCRIPTION", "R"),
    ("cpanfile", "Perl"),
    ("*.nimble", "Nim"),
    ("gleam.toml", "Gleam"),
    ("shard.yml", "Crystal"),
];

/// `Gemfile: looks like Ruby; no plugin ...`, or `None` when nothing is recognised.
pub fn recognise(entries: &[String]) -> Option<String> {
    let mut found: Vec<(&str, &str)> = Vec::new();
    for (marker, language) in MARKERS {
        let hit = match marker.strip_prefix('*') {
            Some(extension) => entries.iter().find(|e| e.ends_with(extension)),
            None => entries.iter().find(|e| e.as_str() == *marker),
        };
        if let Some(file) = hit {
            if !found.iter().any(|(_, l)| l == language) {
                found.push((file.as_str(), language));
            }
        }
    }
    let (file, language) = found.first()?;
    let slug: String = language
        .split([' ', '(', '/'])
        .next()
        .unwrap_or("lang")
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    Some(format!(
        "{file}: this looks like {language}, which no loaded plugin builds: add a Dockerfile, \
         or write a plugin with `slipway plugin new {}` (docs/plugins.md)",
        if slug.is_empty() {
            "mylang".into()
        } else {
            slug
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::recognise;

    #[test]
    fn names_the_language_and_the_way_out() {
        let text = recognise(&["Gemfile".into(), "app.rb".into()]).unwrap();
        assert!(text.starts_with("Gemfile: this looks like Ruby"), "{text}");
        assert!(text.contains("slipway plugin new ruby"), "{text}");
        let dotnet = recognise(&["Api.csproj".into()]).unwrap();
        assert!(
            dotnet.contains(".NET") && dotnet.contains("plugin new net"),
            "{dotnet}"
        );
        assert_eq!(recognise(&["notes.txt".into()]), None);
    }
}
