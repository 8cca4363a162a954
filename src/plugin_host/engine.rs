//! The wasmtime engine plugins run on, and the clock that interrupts them.

use std::thread;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

/// How often the epoch advances: the resolution of CPU deadlines.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Plugin calls that may be live at once in a pooled host (each call is one
/// instance).
const POOL_SLOTS: u32 = 32;

/// Where plugin instances get their memory and tables from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instances {
    /// Mapped for each call and unmapped after it; nothing reserved up
    /// front. For a process that makes a few calls and exits (the CLI):
    /// setting up a pool costs more at start than its reuse saves.
    OnDemand,
    /// Slots reserved once and reused by every call, each memory up to
    /// `max_memory_bytes`: for a long-lived host (the service).
    Pooled { max_memory_bytes: usize },
}

/// An engine whose instances are allocated as `instances` says. Memory caps
/// hold either way: each call's store has a limiter (`MemoryCap`).
pub(crate) fn new_engine(instances: Instances) -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.cranelift_opt_level(OptLevel::Speed);
    // Plugins are small and capped at tens of MiB: a small reservation keeps
    // instantiation cheap while still letting bounds checks be elided.
    config.memory_reservation(1 << 30);
    config.memory_guard_size(32 << 20);
    // Plugins' data segments are small: copying them into a fresh slot is
    // cheaper than mapping them copy-on-write and unmapping after each call.
    config.memory_init_cow(false);
    if let Instances::Pooled { max_memory_bytes } = instances {
        // Every call instantiates afresh: the pooling allocator reuses
        // pre-reserved slots instead of mapping and unmapping memory each time.
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(POOL_SLOTS)
            .total_core_instances(POOL_SLOTS * 4)
            .total_memories(POOL_SLOTS * 2)
            .total_tables(POOL_SLOTS * 4)
            .max_memory_size(max_memory_bytes);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Engine::new(&config)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is dropped.
pub(crate) fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = thread::Builder::new()
        .name("slipway-epoch".into())
        .spawn(move || loop {
            thread::sleep(EPOCH_TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        });
    if let Err(e) = spawned {
        // Without the ticker deadlines never fire; say so loudly.
        tracing::error!("cannot start the plugin deadline clock: {e}");
    }
}

/// Ticks needed to cover `deadline` (at least one).
pub(crate) fn deadline_ticks(deadline: Duration) -> u64 {
    let ticks = deadline.as_nanos().div_ceil(EPOCH_TICK.as_nanos());
    u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
}
