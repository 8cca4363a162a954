//! What one plugin call may use: CPU time, memory, bytes read, bytes out.

use std::time::Duration;

/// Per-call limits. Every call runs in a fresh instance, so these bound a
/// single `info`, `detect` or `plan` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock CPU deadline, enforced by epoch interruption.
    pub deadline: Duration,
    /// Linear memory a plugin may grow to.
    pub memory_bytes: usize,
    /// The largest file `read-file` returns.
    pub max_file_bytes: u64,
    /// Bytes of files and directory listings one call may read in all.
    pub read_budget_bytes: u64,
    /// Bytes of strings a call may return.
    pub max_output_bytes: usize,
    /// Bytes of log messages a call may emit; the rest is dropped.
    pub max_log_bytes: usize,
    /// Entries `list-dir` returns for one directory at most.
    pub max_dir_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_secs(1),
            memory_bytes: 64 << 20,
            max_file_bytes: 1 << 20,
            read_budget_bytes: 16 << 20,
            max_output_bytes: 1 << 20,
            max_log_bytes: 64 << 10,
            max_dir_entries: 10_000,
        }
    }
}

/// Refuses memory growth past the cap and remembers that it did, so the
/// resulting trap can be reported as a memory-limit hit.
pub(crate) struct MemoryCap {
    max_bytes: usize,
    pub(crate) hit: bool,
}

impl MemoryCap {
    pub(crate) fn new(max_bytes: usize) -> Self {
        MemoryCap {
            max_bytes,
            hit: false,
        }
    }
}

/// Table elements a plugin may have (function pointers of its code).
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.hit = true;
            wasmtime::bail!("memory limit of {} bytes reached", self.max_bytes);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
