//! A plugin built against contract 0.3.0, which this host does not serve.

wit_bindgen::generate!({
    world: "detector",
    path: "wit-future",
});

struct FuturePlugin;

impl exports::slipway::plugin::plugin::Guest for FuturePlugin {
    fn info() -> String {
        "future-contract".into()
    }
}

export!(FuturePlugin);
