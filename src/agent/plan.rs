//! What to do to the containers to run a release: pure, from what the
//! engine shows and the target. Applied one action at a time, and every
//! action is safe to repeat, so after a power loss the agent looks again
//! and plans again.
//!
//! Order per service, download-then-kill: images are pulled before (by the
//! caller); then extra and old containers are removed, the new one created
//! and started. Exactly one container per service at the end; containers of
//! services the release no longer has are removed.

use super::target::TargetState;

/// A container the agent made, as the engine shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub id: String,
    pub service: String,
    pub release: i64,
    pub running: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Stop and remove a container.
    Remove { id: String, service: String },
    /// Create the target's container of a service and start it.
    Create { service: String },
    /// Start the target's container that exists but does not run.
    Start { id: String, service: String },
}

/// The actions that take `observed` to `target`, in order.
pub fn reconcile(observed: &[Observed], target: &TargetState) -> Vec<Action> {
    let mut actions = Vec::new();
    let Some(release) = target.release_id else {
        return actions;
    };
    // Services the release no longer has go first.
    for container in observed {
        if !target.services.contains_key(&container.service) {
            actions.push(Action::Remove {
                id: container.id.clone(),
                service: container.service.clone(),
            });
        }
    }
    for service in target.services.keys() {
        let mine: Vec<&Observed> = observed.iter().filter(|c| &c.service == service).collect();
        // Keep one container of the target release (a running one first).
        let keep = mine
            .iter()
            .filter(|c| c.release == release)
            .max_by_key(|c| c.running)
            .copied();
        for container in &mine {
            if Some(container.id.as_str()) != keep.map(|k| k.id.as_str()) {
                actions.push(Action::Remove {
                    id: container.id.clone(),
                    service: service.clone(),
                });
            }
        }
        match keep {
            Some(kept) if kept.running => {}
            Some(kept) => actions.push(Action::Start {
                id: kept.id.clone(),
                service: service.clone(),
            }),
            None => actions.push(Action::Create {
                service: service.clone(),
            }),
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::target::ServiceSpec;

    fn target(release: i64, services: &[&str]) -> TargetState {
        TargetState {
            release_id: Some(release),
            services: services
                .iter()
                .map(|s| {
                    (
                        s.to_string(),
                        ServiceSpec {
                            image: format!("img/{s}"),
                            command: None,
                            environment: Default::default(),
                            size_bytes: None,
                        },
                    )
                })
                .collect(),
            hooks: Default::default(),
        }
    }

    fn container(id: &str, service: &str, release: i64, running: bool) -> Observed {
        Observed {
            id: id.into(),
            service: service.into(),
            release,
            running,
        }
    }

    #[test]
    fn first_install_creates_every_service() {
        assert_eq!(
            reconcile(&[], &target(1, &["api", "web"])),
            vec![
                Action::Create {
                    service: "api".into()
                },
                Action::Create {
                    service: "web".into()
                }
            ]
        );
    }

    #[test]
    fn an_update_replaces_old_containers_and_drops_gone_services() {
        let observed = [
            container("a", "web", 1, true),
            container("b", "worker", 1, true),
        ];
        assert_eq!(
            reconcile(&observed, &target(2, &["web"])),
            vec![
                Action::Remove {
                    id: "b".into(),
                    service: "worker".into()
                },
                Action::Remove {
                    id: "a".into(),
                    service: "web".into()
                },
                Action::Create {
                    service: "web".into()
                },
            ]
        );
    }

    #[test]
    fn after_a_power_loss_it_converges_to_one_container_per_service() {
        // Killed between create and start, with the old one still there.
        let observed = [
            container("old", "web", 1, true),
            container("new", "web", 2, false),
        ];
        assert_eq!(
            reconcile(&observed, &target(2, &["web"])),
            vec![
                Action::Remove {
                    id: "old".into(),
                    service: "web".into()
                },
                Action::Start {
                    id: "new".into(),
                    service: "web".into()
                },
            ]
        );
        // Two of the target release: the running one stays.
        let observed = [
            container("x", "web", 2, false),
            container("y", "web", 2, true),
        ];
        assert_eq!(
            reconcile(&observed, &target(2, &["web"])),
            vec![Action::Remove {
                id: "x".into(),
                service: "web".into()
            }]
        );
        // Done already: nothing to do.
        assert!(reconcile(&[container("y", "web", 2, true)], &target(2, &["web"])).is_empty());
    }
}
