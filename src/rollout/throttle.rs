//! `max_per_minute`: a rollout lets at most so many devices start its
//! release per minute. A device admitted once stays admitted; a device not
//! admitted yet keeps its previous target until a later minute has room.

use std::collections::HashSet;

#[derive(Debug, Default)]
pub struct Throttle {
    minute: i64,
    this_minute: u32,
    admitted: HashSet<String>,
}

impl Throttle {
    /// Whether `uuid` may start now; admits it when there is room.
    pub fn admit(&mut self, max_per_minute: u32, uuid: &str, now_ms: i64) -> bool {
        if self.admitted.contains(uuid) {
            return true;
        }
        let minute = now_ms.div_euclid(60_000);
        if minute != self.minute {
            self.minute = minute;
            self.this_minute = 0;
        }
        if self.this_minute >= max_per_minute {
            return false;
        }
        self.this_minute += 1;
        self.admitted.insert(uuid.to_string());
        true
    }

    /// Whether `uuid` was admitted, without admitting it.
    pub fn is_admitted(&self, uuid: &str) -> bool {
        self.admitted.contains(uuid)
    }
}

#[cfg(test)]
mod tests {
    use super::Throttle;

    #[test]
    fn at_most_n_new_devices_a_minute() {
        let mut throttle = Throttle::default();
        let admitted = (0..10)
            .filter(|i| throttle.admit(3, &format!("d{i}"), 1_000))
            .count();
        assert_eq!(admitted, 3);
        assert!(throttle.admit(3, "d0", 2_000), "admitted stays admitted");
        assert!(!throttle.admit(3, "d5", 59_999));
        assert!(throttle.admit(3, "d5", 60_000), "a new minute has room");
        assert!(throttle.is_admitted("d5"));
        assert!(!throttle.is_admitted("d9"));
    }
}
