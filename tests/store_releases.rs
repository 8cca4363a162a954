//! The release record on a real SQLite file: migrations, the interrupted
//! sweep, two live builders side by side, a database from the future.

use slipway::plan::{Command, Hook, HookPhase};
use slipway::release::{
    ImageOutcome, ImageStatus, NewImage, NewRelease, ReleaseFilter, SourceKind, SqliteStore, Status,
};
use slipway::store::{ReleaseStore, StoreError};

fn new_release(app: &str) -> NewRelease {
    NewRelease {
        hash: slipway::release::new_release_hash(app),
        app: app.into(),
        commit: None,
        source: SourceKind::Local,
        source_url: None,
        device_types: vec!["raspberrypi4-64".into()],
        composition: "services:\n  main:\n    build: .\n".into(),
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

#[test]
fn a_release_round_trips_through_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let release = store.create_release(&new_release("fleet")).unwrap();
        assert_eq!(release.status, Status::Running);
        let image_id = store.add_image(release.id, &image("api")).unwrap();
        store.start_image(image_id, release.started_at_ms).unwrap();
        store
            .finish_image(
                image_id,
                &ImageOutcome {
                    status: ImageStatus::Success,
                    image_id: Some("sha256:feed".into()),
                    size_bytes: Some(1234),
                    context_bytes: Some(99),
                    log: "Step 1/1 : FROM busybox:slipway\n".into(),
                    error: None,
                    started_at_ms: None,
                    ended_at_ms: release.started_at_ms + 1500,
                },
            )
            .unwrap();
        store
            .finish_release(
                release.id,
                Status::Success,
                None,
                release.started_at_ms + 2000,
            )
            .unwrap();
        release.id
    };
    let store = SqliteStore::open(dir.path()).unwrap();
    let release = store.get(id).unwrap();
    assert_eq!(release.status, Status::Success);
    assert_eq!(release.duration_ms, Some(2000));
    let images = store.images(id).unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].image_id.as_deref(), Some("sha256:feed"));
    assert_eq!(images[0].duration_ms, Some(1500));
    assert!(images[0].log.contains("FROM busybox"));
    let journal: String = rusqlite::Connection::open(dir.path().join("releases.sqlite"))
        .unwrap()
        .pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
}

#[test]
fn a_running_release_is_interrupted_only_once_its_builder_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let mut builder = SqliteStore::open(dir.path()).unwrap();
    let release = builder.create_release(&new_release("fleet")).unwrap();
    let image_id = builder.add_image(release.id, &image("api")).unwrap();
    builder
        .start_image(image_id, release.started_at_ms)
        .unwrap();

    // Another command opening the store while the builder lives sees it running.
    let reader = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(reader.get(release.id).unwrap().status, Status::Running);
    drop(reader);

    drop(builder); // the builder ends without finishing the release
    let after = SqliteStore::open(dir.path()).unwrap();
    let interrupted = after.get(release.id).unwrap();
    assert_eq!(interrupted.status, Status::Interrupted);
    assert!(interrupted.ended_at_ms.is_some());
    assert_eq!(
        after.images(release.id).unwrap()[0].status,
        ImageStatus::Interrupted
    );
    let listed = after
        .list(&ReleaseFilter {
            status: Some(Status::Interrupted),
            ..ReleaseFilter::default()
        })
        .unwrap();
    assert_eq!(listed.len(), 1);
}

#[test]
fn filters_by_app_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path()).unwrap();
    for (app, status) in [
        ("a", Status::Success),
        ("a", Status::Failed),
        ("b", Status::Success),
    ] {
        let release = store.create_release(&new_release(app)).unwrap();
        store
            .finish_release(release.id, status, None, release.started_at_ms + 1)
            .unwrap();
    }
    let only = |app: Option<&str>, status: Option<Status>| {
        store
            .list(&ReleaseFilter {
                app: app.map(str::to_string),
                status,
                ..ReleaseFilter::default()
            })
            .unwrap()
            .len()
    };
    assert_eq!(only(None, None), 3);
    assert_eq!(only(Some("a"), None), 2);
    assert_eq!(only(Some("a"), Some(Status::Success)), 1);
    assert_eq!(only(None, Some(Status::Failed)), 1);
    assert!(matches!(store.get(999), Err(StoreError::NotFound(999))));
}

#[test]
fn a_database_from_a_newer_slipway_is_refused_not_damaged() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join("releases.sqlite")).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let error = SqliteStore::open(dir.path()).err().expect("refused");
    let message = error.to_string();
    assert!(message.contains("schema version 99"), "{message}");
    assert!(message.contains("upgrade slipway"), "{message}");
}

#[test]
fn hooks_and_commands_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let hooks = vec![
        Hook {
            phase: HookPhase::Release,
            service: "web".into(),
            command: Command::Shell("node migrate.js".into()),
        },
        Hook {
            phase: HookPhase::Postdeploy,
            service: "web".into(),
            command: Command::Exec(vec!["echo".into(), "done".into()]),
        },
    ];
    let id = {
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let release = store
            .create_release(&NewRelease {
                composition: "web: node web.js\nworker: node worker.js\n".into(),
                hooks: hooks.clone(),
                ..new_release("procs")
            })
            .unwrap();
        store
            .add_image(
                release.id,
                &NewImage {
                    command: Some(Command::Shell("node worker.js".into())),
                    ..image("worker")
                },
            )
            .unwrap();
        store.add_image(release.id, &image("plain")).unwrap();
        release.id
    };
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.get(id).unwrap().hooks, hooks);
    let images = store.images(id).unwrap();
    let command = |service: &str| {
        images
            .iter()
            .find(|i| i.service == service)
            .unwrap()
            .command
            .clone()
    };
    assert_eq!(
        command("worker"),
        Some(Command::Shell("node worker.js".into()))
    );
    assert_eq!(command("plain"), None);
}

#[test]
fn a_first_version_database_is_migrated_and_keeps_its_releases() {
    let dir = tempfile::tempdir().unwrap();
    // A database as the first schema left it, with one release in it.
    {
        let conn = rusqlite::Connection::open(dir.path().join("releases.sqlite")).unwrap();
        conn.execute_batch(
            "CREATE TABLE releases (id INTEGER PRIMARY KEY AUTOINCREMENT, hash TEXT NOT NULL UNIQUE,
                 app TEXT NOT NULL, commit_sha TEXT, source TEXT NOT NULL, status TEXT NOT NULL,
                 device_types TEXT NOT NULL, started_at_ms INTEGER NOT NULL, ended_at_ms INTEGER,
                 composition TEXT NOT NULL, error TEXT);
             CREATE TABLE images (id INTEGER PRIMARY KEY AUTOINCREMENT,
                 release_id INTEGER NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
                 service TEXT NOT NULL, device_type TEXT NOT NULL, arch TEXT NOT NULL,
                 platform TEXT NOT NULL, status TEXT NOT NULL, project_type TEXT, plugin TEXT,
                 dockerfile TEXT, reference TEXT NOT NULL, image_id TEXT, size_bytes INTEGER,
                 context_bytes INTEGER, log TEXT NOT NULL DEFAULT '', error TEXT,
                 started_at_ms INTEGER, ended_at_ms INTEGER, UNIQUE (release_id, service, arch));
             INSERT INTO releases (hash, app, source, status, device_types, started_at_ms,
                 ended_at_ms, composition)
             VALUES ('0123456789abcdef', 'old', 'local', 'success', '[\"intel-nuc\"]', 1000, 3000, '');
             INSERT INTO images (release_id, service, device_type, arch, platform, status, reference)
             VALUES (1, 'main', 'intel-nuc', 'amd64', 'linux/amd64', 'success', 'old/main:0123-amd64');
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(dir.path()).unwrap();
    let release = store.get(1).unwrap();
    assert_eq!(release.app, "old");
    assert_eq!(release.status, Status::Success);
    assert!(release.hooks.is_empty());
    let images = store.images(1).unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].command, None);
    assert_eq!(
        images[0].builder, None,
        "images built before schema 3 name no builder"
    );
    let version: i64 = rusqlite::Connection::open(dir.path().join("releases.sqlite"))
        .unwrap()
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, 6);
}

#[test]
fn the_queue_builds_one_release_per_app_at_a_time_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path()).unwrap();
    let a1 = store.enqueue_release(&new_release("a")).unwrap();
    let a2 = store.enqueue_release(&new_release("a")).unwrap();
    let b1 = store.enqueue_release(&new_release("b")).unwrap();
    assert_eq!(a1.status, Status::Queued);
    assert!(a1.queued_at_ms.is_some());
    // The oldest first; a's second waits while a's first runs.
    assert_eq!(store.claim_next().unwrap().unwrap().id, a1.id);
    assert_eq!(store.claim_next().unwrap().unwrap().id, b1.id);
    assert!(store.claim_next().unwrap().is_none());
    // A queued release cancels without running; a running one is not "queued".
    assert!(!store.cancel_queued(a1.id).unwrap());
    store
        .finish_release(a1.id, Status::Success, None, 1)
        .unwrap();
    let next = store.claim_next().unwrap().unwrap();
    assert_eq!((next.id, next.status), (a2.id, Status::Running));
    let a3 = store.enqueue_release(&new_release("a")).unwrap();
    assert!(store.cancel_queued(a3.id).unwrap());
    assert_eq!(store.get(a3.id).unwrap().status, Status::Cancelled);
    // Queued releases survive a restart; running ones of a dead process do not.
    drop(store);
    let a4 = {
        let mut store = SqliteStore::open(dir.path()).unwrap();
        store.enqueue_release(&new_release("a")).unwrap()
    };
    let mut store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(store.get(b1.id).unwrap().status, Status::Interrupted);
    assert_eq!(store.get(a4.id).unwrap().status, Status::Queued);
    assert_eq!(store.claim_next().unwrap().unwrap().id, a4.id);
}

#[test]
fn apps_tokens_and_views_round_trip() {
    use slipway::access::{token_hash, Scope};
    use slipway::app::App;
    use slipway::store::{AppStore, TokenStore, ViewStore};
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path()).unwrap();
    let app = App::new("fleet", &["intel-nuc".into()], 5).unwrap();
    store.create_app(&app).unwrap();
    assert!(matches!(
        store.create_app(&app),
        Err(StoreError::Exists { what: "app", .. })
    ));
    assert_eq!(
        store.app("fleet").unwrap().unwrap().device_types,
        ["intel-nuc"]
    );
    assert!(store.app("other").unwrap().is_none());
    assert_eq!(store.webhook_secret("fleet").unwrap(), None);
    store
        .set_webhook_secret("fleet", "s3cret-s3cret-s3cret")
        .unwrap();
    assert_eq!(
        store.webhook_secret("fleet").unwrap().as_deref(),
        Some("s3cret-s3cret-s3cret")
    );
    assert!(matches!(
        store.set_webhook_secret("nope", "x"),
        Err(StoreError::NoApp(_))
    ));

    assert!(!store.has_admin_token().unwrap());
    store
        .add_token(&token_hash("admin"), &Scope::Admin)
        .unwrap();
    store
        .add_token(&token_hash("deploy"), &Scope::App("fleet".into()))
        .unwrap();
    assert!(store.has_admin_token().unwrap());
    assert_eq!(
        store.token_scope(&token_hash("admin")).unwrap(),
        Some(Scope::Admin)
    );
    assert_eq!(
        store.token_scope(&token_hash("deploy")).unwrap(),
        Some(Scope::App("fleet".into()))
    );
    assert_eq!(store.token_scope(&token_hash("other")).unwrap(), None);

    let filter = serde_json::json!({"status": "failed"});
    store.save_view("failures", &filter).unwrap();
    store
        .save_view("failures", &serde_json::json!({"status": "success"}))
        .unwrap();
    let views = store.views().unwrap();
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].filter["status"], "success");
}
