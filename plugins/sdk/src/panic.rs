//! Panic messages that reach the user.
//!
//! Plugins are built with `panic = "abort"`, and a WebAssembly abort is a
//! bare `unreachable` trap: without help the host can only say the plugin
//! "panicked or aborted". [`export_plugin!`](crate::export_plugin) installs
//! a hook before every call that logs the panic's message and location at
//! error level; the host quotes the last error log when a call traps.

use std::sync::Once;

use crate::bindings::slipway::plugin::log::{log, Level};

/// Installs the hook once per instance (each call runs in a fresh one).
pub fn install_hook() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            log(Level::Error, &format!("panic: {info}"));
        }));
    });
}

/// Registers `$plugin` (a type implementing [`Plugin`](crate::Plugin)) as
/// the component's export, with the panic hook armed before each call.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ident) => {
        const _: () = {
            struct __SlipwayExport;

            impl $crate::Plugin for __SlipwayExport {
                fn info() -> $crate::PluginInfo {
                    $crate::panic::install_hook();
                    <$plugin as $crate::Plugin>::info()
                }

                fn detect(
                    target: $crate::Target,
                ) -> ::core::result::Result<
                    ::core::option::Option<$crate::Detection>,
                    $crate::PluginError,
                > {
                    $crate::panic::install_hook();
                    <$plugin as $crate::Plugin>::detect(target)
                }

                fn plan(
                    target: $crate::Target,
                ) -> ::core::result::Result<$crate::BuildPlan, $crate::PluginError> {
                    $crate::panic::install_hook();
                    <$plugin as $crate::Plugin>::plan(target)
                }
            }

            $crate::bindings::export_bindings!(__SlipwayExport);
        };
    };
}
