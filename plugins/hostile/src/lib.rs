//! Misbehaving plugins for the sandbox tests: each cargo feature builds a
//! component that does harm in one way (see `misbehave.rs`), imports WASI
//! (`wasi_import.rs`), or targets a contract version the host does not serve
//! (`future_contract.rs`). The host must contain or refuse every one.
//! `legacy_contract.rs` is built for the frozen contract 0.1: still served.
//! `custom_language.rs` is the well-behaved control: a custom plugin.

#[cfg(feature = "custom-language")]
mod custom_language;
#[cfg(feature = "future-contract")]
mod future_contract;
#[cfg(feature = "legacy-contract")]
mod legacy_contract;
#[cfg(not(any(
    feature = "wasi-import",
    feature = "future-contract",
    feature = "legacy-contract",
    feature = "custom-language"
)))]
mod misbehave;
#[cfg(feature = "wasi-import")]
mod wasi_import;
