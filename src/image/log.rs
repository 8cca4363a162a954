//! A build log kept for the release record, capped so one chatty build
//! cannot fill the database: the beginning and the end are kept (the end is
//! where failures are), with a visible marker where the middle was dropped.

/// The most a recorded log holds, marker aside.
pub const LOG_CAP: usize = 1 << 20;
const TAIL: usize = LOG_CAP / 4;

#[derive(Debug, Default)]
pub struct CappedLog {
    head: String,
    tail: String,
    dropped: usize,
}

impl CappedLog {
    pub fn push(&mut self, text: &str) {
        let head_room = (LOG_CAP - TAIL).saturating_sub(self.head.len());
        if self.tail.is_empty() && text.len() <= head_room {
            self.head.push_str(text);
            return;
        }
        self.tail.push_str(text);
        if self.tail.len() > 2 * TAIL {
            let mut cut = self.tail.len() - TAIL;
            while !self.tail.is_char_boundary(cut) {
                cut += 1;
            }
            self.dropped += cut;
            self.tail.drain(..cut);
        }
    }

    /// The last `n` lines, for error reports.
    pub fn last_lines(&self, n: usize) -> Vec<String> {
        let text = if self.tail.is_empty() {
            &self.head
        } else {
            &self.tail
        };
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(n)..]
            .iter()
            .map(|l| l.to_string())
            .collect()
    }

    pub fn render(&self) -> String {
        // The tail grows to twice its size between trims; keep its last TAIL bytes.
        let mut start = self.tail.len().saturating_sub(TAIL);
        while !self.tail.is_char_boundary(start) {
            start += 1;
        }
        let dropped = self.dropped + start;
        if dropped == 0 {
            return format!("{}{}", self.head, self.tail);
        }
        format!(
            "{}\n[... slipway: {dropped} bytes of log truncated here ...]\n{}",
            self.head,
            &self.tail[start..]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_head_and_tail_with_a_marker() {
        let mut log = CappedLog::default();
        log.push("first line\n");
        let line = "x".repeat(1023) + "\n";
        for _ in 0..4096 {
            log.push(&line);
        }
        log.push("last line\n");
        let text = log.render();
        assert!(text.len() <= LOG_CAP + 200, "{} bytes", text.len());
        assert!(text.starts_with("first line\n"));
        assert!(text.ends_with("last line\n"));
        assert!(text.contains("bytes of log truncated here"));
        assert_eq!(log.last_lines(1), vec!["last line".to_string()]);
    }

    #[test]
    fn small_logs_are_whole() {
        let mut log = CappedLog::default();
        log.push("a\n");
        log.push("b\n");
        assert_eq!(log.render(), "a\nb\n");
    }
}
