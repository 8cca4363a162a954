//! The built-in plugins, embedded at build time from `plugins/dist/`.

pub(crate) struct Builtin {
    pub name: &'static str,
    pub sha256: &'static str,
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/builtins.rs"));
