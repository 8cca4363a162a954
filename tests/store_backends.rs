//! One suite, both backends: every store behaviour the service relies on is
//! checked on a real SQLite file and on a real PostgreSQL database (a fresh
//! one per test, on the server the test command starts). What only the
//! shared backend has (schema refusal by table, concurrent builders) is at
//! the end.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use slipway::access::Scope;
use slipway::app::App;
use slipway::device::{Device, Report, UpdateStatus};
use slipway::release::{
    ImageOutcome, ImageStatus, NewImage, NewRelease, ReleaseFilter, SourceKind, Status,
};
use slipway::rollout::{Phase, Rollout, RolloutState, Selector};
use slipway::store::{PgStore, ReleaseStore, SqliteStore, Store, StoreError, END_OF_BUILD};

type Open = dyn Fn() -> Box<dyn Store + Send>;

fn new_release(app: &str, commit: Option<&str>) -> NewRelease {
    NewRelease {
        hash: slipway::release::new_release_hash(app),
        app: app.into(),
        commit: commit.map(str::to_string),
        source: SourceKind::Git,
        source_url: None,
        device_types: vec!["raspberrypi4-64".into()],
        composition: String::new(),
        hooks: Vec::new(),
    }
}

fn image(service: &str) -> NewImage {
    NewImage {
        service: service.into(),
        device_type: "raspberrypi4-64".into(),
        arch: "aarch64".into(),
        platform: "linux/arm64".into(),
        project_type: Some("dockerfile".into()),
        plugin: Some("dockerfile@0.1.0".into()),
        dockerfile: Some("FROM busybox:slipway\n".into()),
        reference: format!("app/{service}:abc-aarch64"),
        command: None,
        status: ImageStatus::Queued,
        builder: Some("buildkit".into()),
    }
}

fn app(name: &str) -> App {
    App {
        name: name.into(),
        device_types: vec!["raspberrypi4-64".into()],
        created_at_ms: 1_000,
        target_release: None,
        track_latest: true,
    }
}

fn apps_tokens_and_targets(open: &Open) {
    let mut store = open();
    store.create_app(&app("fleet")).unwrap();
    store.create_app(&app("alpha")).unwrap();
    assert!(matches!(
        store.create_app(&app("fleet")),
        Err(StoreError::Exists { what: "app", .. })
    ));
    let names: Vec<String> = store.apps().unwrap().into_iter().map(|a| a.name).collect();
    assert_eq!(names, ["alpha", "fleet"]);
    assert!(store.app("nope").unwrap().is_none());
    store.set_fleet_target("fleet", Some(7), false).unwrap();
    let fleet = store.app("fleet").unwrap().unwrap();
    assert_eq!((fleet.target_release, fleet.track_latest), (Some(7), false));
    assert!(matches!(
        store.set_fleet_target("nope", None, true),
        Err(StoreError::NoApp(_))
    ));
    assert!(store.webhook_secret("fleet").unwrap().is_none());
    store.set_webhook_secret("fleet", "s3cret").unwrap();
    assert_eq!(
        store.webhook_secret("fleet").unwrap().as_deref(),
        Some("s3cret")
    );

    assert!(!store.has_admin_token().unwrap());
    store.add_token("hash-admin", &Scope::Admin).unwrap();
    store
        .add_token("hash-app", &Scope::App("fleet".into()))
        .unwrap();
    assert!(store.has_admin_token().unwrap());
    assert_eq!(store.token_scope("hash-admin").unwrap(), Some(Scope::Admin));
    assert_eq!(
        store.token_scope("hash-app").unwrap(),
        Some(Scope::App("fleet".into()))
    );
    assert_eq!(store.token_scope("hash-other").unwrap(), None);
}

fn the_queue_claims_the_oldest_one_per_app(open: &Open) {
    let mut store = open();
    let x1 = store.enqueue_release(&new_release("x", None)).unwrap();
    let x2 = store.enqueue_release(&new_release("x", None)).unwrap();
    let y1 = store.enqueue_release(&new_release("y", None)).unwrap();
    assert_eq!(x1.status, Status::Queued);
    assert!(x1.queued_at_ms.is_some());
    assert_eq!(store.claim_next().unwrap().unwrap().id, x1.id);
    assert_eq!(store.get(x1.id).unwrap().status, Status::Running);
    // x is busy: y's release goes first, then nothing.
    assert_eq!(store.claim_next().unwrap().unwrap().id, y1.id);
    assert!(store.claim_next().unwrap().is_none());
    assert!(
        !store.cancel_queued(x1.id).unwrap(),
        "a running release is not queued"
    );
    store
        .finish_release(x1.id, Status::Success, None, x1.started_at_ms + 10)
        .unwrap();
    assert_eq!(store.claim_next().unwrap().unwrap().id, x2.id);
    let z = store.enqueue_release(&new_release("z", None)).unwrap();
    assert!(store.cancel_queued(z.id).unwrap());
    let z = store.get(z.id).unwrap();
    assert_eq!(z.status, Status::Cancelled);
    assert_eq!(z.error.as_deref(), Some("cancelled by the user"));
    assert!(store.claim_next().unwrap().is_none());
}

fn a_release_and_its_images_round_trip(open: &Open) {
    let mut store = open();
    let release = store
        .create_release(&new_release("fleet", Some("abcdef123456")))
        .unwrap();
    assert_eq!(release.status, Status::Running);
    let api = store.add_image(release.id, &image("api")).unwrap();
    let web = store.add_image(release.id, &image("web")).unwrap();
    store.start_image(api, release.started_at_ms).unwrap();
    store.save_log(api, "Step 1/2\n").unwrap();
    store
        .set_registry_reference(api, "127.0.0.1:5000/fleet/api@sha256:feed")
        .unwrap();
    store
        .finish_image(
            api,
            &ImageOutcome {
                status: ImageStatus::Success,
                image_id: Some("sha256:feed".into()),
                size_bytes: Some(1234),
                context_bytes: Some(99),
                log: "Step 1/2\nStep 2/2\n".into(),
                error: None,
                started_at_ms: None,
                ended_at_ms: release.started_at_ms + 1500,
            },
        )
        .unwrap();
    // `web` never finished: closing the release cancels it.
    store
        .finish_release(
            release.id,
            Status::Failed,
            Some("web failed"),
            release.started_at_ms + 2000,
        )
        .unwrap();
    let got = store.get(release.id).unwrap();
    assert_eq!(got.status, Status::Failed);
    assert_eq!(got.error.as_deref(), Some("web failed"));
    assert_eq!(got.duration_ms, Some(2000));
    let images = store.images(release.id).unwrap();
    assert_eq!(images.len(), 2);
    let (a, w) = (&images[0], &images[1]);
    assert_eq!((a.id, w.id), (api, web));
    assert_eq!(a.status, ImageStatus::Success);
    assert_eq!(a.size_bytes, Some(1234));
    assert_eq!(a.duration_ms, Some(1500));
    assert_eq!(a.log, "Step 1/2\nStep 2/2\n");
    assert_eq!(
        a.registry_reference.as_deref(),
        Some("127.0.0.1:5000/fleet/api@sha256:feed")
    );
    assert_eq!(a.builder.as_deref(), Some("buildkit"));
    assert_eq!(w.status, ImageStatus::Cancelled);
    assert!(matches!(
        store.get(999_999),
        Err(StoreError::NotFound(999_999))
    ));
}

fn lists_filter_and_page(open: &Open) {
    let mut store = open();
    let mut ids = Vec::new();
    for (app, commit) in [("a", "aaaa1111"), ("b", "bbbb2222"), ("a", "aaaa3333")] {
        let r = store
            .create_release(&new_release(app, Some(commit)))
            .unwrap();
        store
            .finish_release(r.id, Status::Success, None, r.started_at_ms + 5)
            .unwrap();
        ids.push(r.id);
    }
    let failed = store.create_release(&new_release("b", None)).unwrap();
    store
        .finish_release(
            failed.id,
            Status::Failed,
            Some("no"),
            failed.started_at_ms + 5,
        )
        .unwrap();
    let list = |filter: ReleaseFilter| -> Vec<i64> {
        store
            .list(&filter)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect()
    };
    assert_eq!(
        list(ReleaseFilter::default()),
        [failed.id, ids[2], ids[1], ids[0]]
    );
    let app_a = ReleaseFilter {
        app: Some("a".into()),
        ..Default::default()
    };
    assert_eq!(list(app_a), [ids[2], ids[0]]);
    let failed_only = ReleaseFilter {
        status: Some(Status::Failed),
        ..Default::default()
    };
    assert_eq!(list(failed_only), [failed.id]);
    let by_commit = ReleaseFilter {
        commit: Some("bbbb".into()),
        ..Default::default()
    };
    assert_eq!(list(by_commit), [ids[1]]);
    let wildcard = ReleaseFilter {
        commit: Some("%".into()),
        ..Default::default()
    };
    assert!(
        list(wildcard).is_empty(),
        "a commit prefix is matched literally"
    );
    let by_type = ReleaseFilter {
        device_type: Some("raspberrypi4-64".into()),
        limit: Some(2),
        ..Default::default()
    };
    assert_eq!(list(by_type), [failed.id, ids[2]]);
    let other_type = ReleaseFilter {
        device_type: Some("raspberrypi4".into()),
        ..Default::default()
    };
    assert!(list(other_type).is_empty(), "a device type matches whole");
    let older = ReleaseFilter {
        before_id: Some(ids[2]),
        ..Default::default()
    };
    assert_eq!(list(older), [ids[1], ids[0]]);
    let future = ReleaseFilter {
        since_ms: Some(i64::MAX / 2),
        ..Default::default()
    };
    assert!(list(future).is_empty());
    let mut counts = store.count_by_status().unwrap();
    counts.sort_by_key(|(status, _)| status.as_str());
    assert_eq!(counts, [(Status::Failed, 1), (Status::Success, 3)]);
}

fn views_save_replace_and_delete(open: &Open) {
    let mut store = open();
    let first = store
        .save_view("failed", &serde_json::json!({"status": "failed"}))
        .unwrap();
    store
        .save_view(
            "arm",
            &serde_json::json!({"device_type": "raspberrypi4-64"}),
        )
        .unwrap();
    let again = store
        .save_view(
            "failed",
            &serde_json::json!({"status": "failed", "app": "x"}),
        )
        .unwrap();
    assert_eq!(first.id, again.id, "the same name replaces the filter");
    let views = store.views().unwrap();
    let names: Vec<&str> = views.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["arm", "failed"]);
    assert_eq!(views[1].filter["app"], "x");
    assert!(store.delete_view(first.id).unwrap());
    assert!(!store.delete_view(first.id).unwrap());
    assert_eq!(store.views().unwrap().len(), 1);
}

fn devices_keep_tags_pins_reports_and_last_seen(open: &Open) {
    let mut store = open();
    store.create_app(&app("fleet")).unwrap();
    let device = Device {
        uuid: "dev-1".into(),
        app: "fleet".into(),
        name: "kitchen".into(),
        device_type: "raspberrypi4-64".into(),
        tags: BTreeMap::from([("site".to_string(), "north".to_string())]),
        pin_release: None,
        created_at_ms: 5,
        last_seen_ms: None,
        report: Report::default(),
    };
    store.add_device(&device, "key-hash-1").unwrap();
    let (found, key) = store.device("dev-1").unwrap().unwrap();
    assert_eq!(found, device);
    assert_eq!(key, "key-hash-1");
    store
        .set_device_tags("dev-1", &BTreeMap::from([("site".into(), "south".into())]))
        .unwrap();
    store.set_device_pin("dev-1", Some(3)).unwrap();
    let report = Report {
        release_id: Some(3),
        update_status: Some(UpdateStatus::Running),
        progress: Some(100),
        ..Report::default()
    };
    store.save_report("dev-1", &report).unwrap();
    store.touch_devices(&[("dev-1".into(), 900)]).unwrap();
    store.touch_devices(&[("dev-1".into(), 400)]).unwrap();
    let all = store.all_devices().unwrap();
    assert_eq!(all.len(), 1);
    let (got, _) = &all[0];
    assert_eq!(got.tags["site"], "south");
    assert_eq!(got.pin_release, Some(3));
    assert_eq!(got.report, report);
    assert_eq!(got.last_seen_ms, Some(900), "last seen never goes back");
    assert!(store.delete_device("dev-1").unwrap());
    assert!(!store.delete_device("dev-1").unwrap());
    assert!(store.device("dev-1").unwrap().is_none());
}

fn rollouts_and_the_audit_log(open: &Open) {
    let mut store = open();
    let mut rollout = Rollout {
        id: 0,
        app: "fleet".into(),
        release_id: 4,
        selector: Selector {
            tags: BTreeMap::from([("ring".into(), "canary".into())]),
        },
        phases: vec![
            Phase {
                percent: 10,
                success_threshold: 90,
                soak_seconds: 60,
            },
            Phase {
                percent: 100,
                success_threshold: 100,
                soak_seconds: 0,
            },
        ],
        error_threshold: 20,
        min_finished: 3,
        max_per_minute: Some(5),
        state: RolloutState::Active,
        current_phase: 0,
        phase_started_at_ms: 10,
        created_at_ms: 10,
        reason: None,
    };
    rollout.id = store.create_rollout(&rollout).unwrap();
    rollout.state = RolloutState::Paused;
    rollout.current_phase = 1;
    rollout.reason = Some("too many failed".into());
    store.update_rollout(&rollout).unwrap();
    assert_eq!(store.all_rollouts().unwrap(), [rollout.clone()]);

    for n in 0..5 {
        let app = if n % 2 == 0 { Some("fleet") } else { None };
        store
            .record_event(
                app,
                "fleet.target",
                Some("x"),
                &serde_json::json!({ "n": n }),
            )
            .unwrap();
    }
    let events = store.events(Some("fleet"), None, 10).unwrap();
    let ns: Vec<i64> = events
        .iter()
        .map(|e| e.detail["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, [4, 2, 0], "newest first, one app");
    let page = store.events(None, Some(events[0].id), 2).unwrap();
    let ns: Vec<i64> = page
        .iter()
        .map(|e| e.detail["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, [3, 2]);
}

fn build_events_are_read_after_a_number(open: &Open) {
    let mut store = open();
    let release = store.create_release(&new_release("fleet", None)).unwrap();
    let events: Vec<String> = (1..=5).map(|n| format!("{{\"n\":{n}}}")).collect();
    store
        .append_build_events(release.id, 1, &events[..3])
        .unwrap();
    store
        .append_build_events(release.id, 4, &events[3..])
        .unwrap();
    let read = store.build_events(release.id, 2, 2).unwrap();
    assert_eq!(read, [(3, events[2].clone()), (4, events[3].clone())]);
    assert!(store.build_events(release.id, 5, 10).unwrap().is_empty());
    assert!(
        store
            .append_build_events(release.id, 5, &events[..1])
            .is_err(),
        "a number is written once"
    );
}

fn a_dead_builder_s_release_is_reaped(open: &Open) {
    let mut builder = open();
    builder
        .enqueue_release(&new_release("fleet", None))
        .unwrap();
    let claimed = builder.claim_next().unwrap().unwrap();
    let mut other = open();
    assert!(
        other.reap_abandoned().unwrap().is_empty(),
        "its builder is alive"
    );
    builder.renew_leases(&[claimed.id]).unwrap();
    drop(builder);
    // SQLite: the lock went with the builder; PostgreSQL: its lease runs out.
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(other.reap_abandoned().unwrap(), [claimed.id]);
    let reaped = other.get(claimed.id).unwrap();
    assert_eq!(reaped.status, Status::Interrupted);
    assert!(reaped.ended_at_ms.is_some());
    let last = other.build_events(claimed.id, 0, 10).unwrap();
    assert_eq!(last.last().map(|(_, e)| e.as_str()), Some(END_OF_BUILD));
    assert!(other.reap_abandoned().unwrap().is_empty());
    other.ping().unwrap();
}

fn cancel_requests_reach_the_builder(open: &Open) {
    let mut builder = open();
    let queued = builder
        .enqueue_release(&new_release("fleet", None))
        .unwrap();
    let mut api = open();
    assert!(
        !api.request_cancel(queued.id).unwrap(),
        "queued: cancel_queued's job"
    );
    let running = builder.claim_next().unwrap().unwrap();
    assert!(builder.renew_leases(&[running.id]).unwrap().is_empty());
    assert!(api.request_cancel(running.id).unwrap());
    assert_eq!(builder.renew_leases(&[running.id]).unwrap(), [running.id]);
    builder
        .finish_release(
            running.id,
            Status::Cancelled,
            None,
            running.started_at_ms + 1,
        )
        .unwrap();
    assert!(
        !api.request_cancel(running.id).unwrap(),
        "closed: nothing to ask"
    );
}

fn one_process_holds_a_named_lease(open: &Open) {
    let mut store = open();
    assert!(store.hold_lease("rollouts", "a", 1000).unwrap());
    assert!(!store.hold_lease("rollouts", "b", 1000).unwrap());
    assert!(store.hold_lease("rollouts", "a", 1000).unwrap(), "renewed");
    assert!(store.hold_lease("other", "b", 1000).unwrap());
    std::thread::sleep(Duration::from_millis(1100));
    assert!(
        store.hold_lease("rollouts", "b", 1000).unwrap(),
        "taken over"
    );
    assert!(!store.hold_lease("rollouts", "a", 1000).unwrap());
}

/// Each check, once per backend.
macro_rules! on_both_backends {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $check() {
                    let dir = tempfile::tempdir().unwrap();
                    let path = dir.path().to_path_buf();
                    let open = move || -> Box<dyn super::Store + Send> {
                        Box::new(super::SqliteStore::open(&path).unwrap())
                    };
                    super::$check(&open);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                fn $check() {
                    let Some(url) = super::common::postgres::fresh_database(stringify!($check))
                    else {
                        return;
                    };
                    let next = std::sync::atomic::AtomicUsize::new(0);
                    let open = move || -> Box<dyn super::Store + Send> {
                        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        // A one-second lease: the reaping check waits it out.
                        Box::new(super::PgStore::open(&url, &format!("test-{n}"), 1000).unwrap())
                    };
                    super::$check(&open);
                }
            )*
        }
    };
}

on_both_backends!(
    apps_tokens_and_targets,
    the_queue_claims_the_oldest_one_per_app,
    a_release_and_its_images_round_trip,
    lists_filter_and_page,
    views_save_replace_and_delete,
    devices_keep_tags_pins_reports_and_last_seen,
    rollouts_and_the_audit_log,
    build_events_are_read_after_a_number,
    a_dead_builder_s_release_is_reaped,
    cancel_requests_reach_the_builder,
    one_process_holds_a_named_lease,
);

#[test]
fn postgres_refuses_a_schema_newer_than_it_knows() {
    let Some(url) = common::postgres::fresh_database("schema") else {
        return;
    };
    drop(PgStore::open(&url, "a", 15_000).unwrap());
    let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
    client
        .execute("UPDATE schema_version SET version = 999", &[])
        .unwrap();
    let error = PgStore::open(&url, "a", 15_000).err().expect("refused");
    assert!(matches!(
        error,
        StoreError::PgSchemaTooNew { found: 999, .. }
    ));
    let text = error.to_string();
    assert!(text.contains("newer than this slipway knows"), "{text}");
    assert!(
        !text.contains(":slipway@"),
        "the password is not shown: {text}"
    );
}

#[test]
fn a_builder_whose_lease_ran_out_cannot_reopen_its_release() {
    let Some(url) = common::postgres::fresh_database("fenced") else {
        return;
    };
    let mut late = PgStore::open(&url, "late", 1000).unwrap();
    late.enqueue_release(&new_release("fleet", None)).unwrap();
    let claimed = late.claim_next().unwrap().unwrap();
    std::thread::sleep(Duration::from_millis(1300));
    let mut other = PgStore::open(&url, "other", 1000).unwrap();
    assert!(
        other.reap_abandoned().unwrap().is_empty(),
        "open reaped it already"
    );
    assert_eq!(other.get(claimed.id).unwrap().status, Status::Interrupted);
    let refused = late.finish_release(claimed.id, Status::Success, None, 1);
    assert!(matches!(refused, Err(StoreError::NotOurs(id)) if id == claimed.id));
    assert_eq!(other.get(claimed.id).unwrap().status, Status::Interrupted);
    assert!(matches!(
        late.finish_release(999_999, Status::Success, None, 1),
        Err(StoreError::NotFound(999_999))
    ));
}

#[test]
fn concurrent_builders_claim_each_release_once_and_one_per_app() {
    let Some(url) = common::postgres::fresh_database("claims") else {
        return;
    };
    let mut store = PgStore::open(&url, "setup", 15_000).unwrap();
    // 30 apps with one release each, and one app with 10.
    for n in 0..30 {
        store
            .enqueue_release(&new_release(&format!("app-{n}"), None))
            .unwrap();
    }
    for _ in 0..10 {
        store.enqueue_release(&new_release("busy", None)).unwrap();
    }
    let builders: Vec<_> = (0..4)
        .map(|n| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut store = PgStore::open(&url, &format!("builder-{n}"), 15_000).unwrap();
                let mut claimed = Vec::new();
                while let Some(release) = store.claim_next().unwrap() {
                    claimed.push((release.id, release.app));
                }
                claimed
            })
        })
        .collect();
    let mut all: Vec<(i64, String)> = builders
        .into_iter()
        .flat_map(|b| b.join().unwrap())
        .collect();
    all.sort();
    let ids: std::collections::BTreeSet<i64> = all.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids.len(), all.len(), "a release was claimed twice: {all:?}");
    assert_eq!(all.iter().filter(|(_, app)| app == "busy").count(), 1);
    assert_eq!(all.len(), 31);
    let running = store
        .list(&ReleaseFilter {
            status: Some(Status::Running),
            app: Some("busy".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(running.len(), 1, "one running build per app");
}
