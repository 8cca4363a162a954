//! Log lines for the build log; the host caps their total size.

use crate::bindings::slipway::plugin::log::{log, Level};

pub fn debug(message: &str) {
    log(Level::Debug, message);
}

pub fn info(message: &str) {
    log(Level::Info, message);
}

pub fn warn(message: &str) {
    log(Level::Warn, message);
}
