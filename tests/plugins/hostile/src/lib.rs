//! Misbehaving plugins for the sandbox tests: each cargo feature builds a
//! component that does harm in one way (see `misbehave.rs`), or imports
//! WASI, which the host must refuse at load time (see `wasi_import.rs`).

#[cfg(not(feature = "wasi-import"))]
mod misbehave;
#[cfg(feature = "wasi-import")]
mod wasi_import;
