//! Human output of a running build: a live line per image (on a terminal)
//! and every log line prefixed with its service and arch.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use slipway::image::{BuildEvent, EventKind};

pub(crate) struct HumanProgress {
    bars: Option<MultiProgress>,
    lines: HashMap<(String, String), ProgressBar>,
}

impl HumanProgress {
    pub(crate) fn new() -> HumanProgress {
        let live = std::io::stderr().is_terminal();
        HumanProgress {
            bars: live.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            lines: HashMap::new(),
        }
    }

    pub(crate) fn event(&mut self, event: &BuildEvent) {
        let (Some(service), Some(arch)) = (&event.service, &event.arch) else {
            // The release's end is the summary the command prints.
            if let (Some(message), false) = (&event.message, event.kind == EventKind::Finished) {
                self.print(message);
            }
            return;
        };
        let prefix = format!("{service} {arch} |");
        let text = match event.kind {
            EventKind::Step => format!(
                "{prefix} Step {} : {}",
                event.step.as_deref().unwrap_or("?"),
                event.message.as_deref().unwrap_or_default()
            ),
            EventKind::Failed => format!(
                "{prefix} FAILED: {}",
                event.error.as_deref().unwrap_or_default()
            ),
            EventKind::Started => format!("{prefix} building"),
            EventKind::Cancelled => format!("{prefix} cancelled"),
            EventKind::Succeeded => format!(
                "{prefix} built {}",
                event.message.as_deref().unwrap_or_default()
            ),
            _ => format!("{prefix} {}", event.message.as_deref().unwrap_or_default()),
        };
        self.print(&text);
        self.update_line(service, arch, event);
    }

    fn update_line(&mut self, service: &str, arch: &str, event: &BuildEvent) {
        let Some(bars) = &self.bars else { return };
        let key = (service.to_string(), arch.to_string());
        match event.kind {
            EventKind::Started => {
                let bar = bars.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} {prefix:.bold} {elapsed:>4} {wide_msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_prefix(format!("{service} {arch}"));
                bar.set_message("sending context");
                bar.enable_steady_tick(Duration::from_millis(120));
                self.lines.insert(key, bar);
            }
            EventKind::Step => {
                if let Some(bar) = self.lines.get(&key) {
                    bar.set_message(format!(
                        "step {} {}",
                        event.step.as_deref().unwrap_or("?"),
                        event.message.as_deref().unwrap_or_default()
                    ));
                }
            }
            EventKind::Succeeded | EventKind::Failed | EventKind::Cancelled => {
                if let Some(bar) = self.lines.remove(&key) {
                    bar.finish_and_clear();
                    bars.remove(&bar);
                }
            }
            _ => {}
        }
    }

    fn print(&self, text: &str) {
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(super::safe(text));
            }
            None => super::emit(&format!("{text}\n")),
        }
    }
}
