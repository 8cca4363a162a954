//! The schema, as numbered migrations applied in order. The database's
//! `user_version` is the number of migrations it has seen.

/// Each entry moves the schema one version up. Never edit a shipped entry:
/// append a new one.
pub const MIGRATIONS: &[&str] = &[
    // 1: releases and their images.
    r#"
    CREATE TABLE releases (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        hash          TEXT    NOT NULL UNIQUE,
        app           TEXT    NOT NULL,
        commit_sha    TEXT,
        source        TEXT    NOT NULL,
        status        TEXT    NOT NULL,
        device_types  TEXT    NOT NULL,
        started_at_ms INTEGER NOT NULL,
        ended_at_ms   INTEGER,
        composition   TEXT    NOT NULL,
        error         TEXT
    );
    CREATE INDEX releases_by_app ON releases (app, id);
    CREATE INDEX releases_by_status ON releases (status);
    CREATE TABLE images (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        release_id    INTEGER NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
        service       TEXT    NOT NULL,
        device_type   TEXT    NOT NULL,
        arch          TEXT    NOT NULL,
        platform      TEXT    NOT NULL,
        status        TEXT    NOT NULL,
        project_type  TEXT,
        plugin        TEXT,
        dockerfile    TEXT,
        reference     TEXT    NOT NULL,
        image_id      TEXT,
        size_bytes    INTEGER,
        context_bytes INTEGER,
        log           TEXT    NOT NULL DEFAULT '',
        error         TEXT,
        started_at_ms INTEGER,
        ended_at_ms   INTEGER,
        UNIQUE (release_id, service, arch)
    );
    "#,
    // 2: release hooks and per-service commands (contract 0.2, Procfile).
    r#"
    ALTER TABLE releases ADD COLUMN hooks TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE images ADD COLUMN command TEXT;
    "#,
    // 3: the builder each image was built with (buildkit, classic).
    r#"
    ALTER TABLE images ADD COLUMN builder TEXT;
    "#,
    // 4: the service: apps, tokens, the queue (queued releases), saved
    // views, registry references.
    r#"
    CREATE TABLE apps (
        name           TEXT    PRIMARY KEY,
        device_types   TEXT    NOT NULL,
        webhook_secret TEXT,
        created_at_ms  INTEGER NOT NULL
    );
    CREATE TABLE tokens (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        token_hash    TEXT    NOT NULL UNIQUE,
        scope         TEXT    NOT NULL,
        app           TEXT    REFERENCES apps (name) ON DELETE CASCADE,
        created_at_ms INTEGER NOT NULL
    );
    CREATE TABLE views (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        name          TEXT    NOT NULL UNIQUE,
        filter        TEXT    NOT NULL,
        created_at_ms INTEGER NOT NULL
    );
    ALTER TABLE releases ADD COLUMN queued_at_ms INTEGER;
    ALTER TABLE releases ADD COLUMN source_url TEXT;
    ALTER TABLE images ADD COLUMN registry_reference TEXT;
    CREATE INDEX releases_by_commit ON releases (commit_sha);
    CREATE INDEX releases_by_start ON releases (started_at_ms);
    "#,
    // 5: fleets: targets, devices and their reports, rollouts, the audit log.
    r#"
    ALTER TABLE apps ADD COLUMN target_release INTEGER;
    ALTER TABLE apps ADD COLUMN track_latest INTEGER NOT NULL DEFAULT 1;
    CREATE TABLE devices (
        uuid          TEXT    PRIMARY KEY,
        app           TEXT    NOT NULL REFERENCES apps (name) ON DELETE CASCADE,
        name          TEXT    NOT NULL,
        device_type   TEXT    NOT NULL,
        key_hash      TEXT    NOT NULL UNIQUE,
        tags          TEXT    NOT NULL DEFAULT '{}',
        pin_release   INTEGER,
        created_at_ms INTEGER NOT NULL,
        last_seen_ms  INTEGER,
        report        TEXT    NOT NULL DEFAULT '{}'
    );
    CREATE INDEX devices_by_app ON devices (app);
    CREATE TABLE rollouts (
        id                  INTEGER PRIMARY KEY AUTOINCREMENT,
        app                 TEXT    NOT NULL,
        release_id          INTEGER NOT NULL,
        plan                TEXT    NOT NULL,
        state               TEXT    NOT NULL,
        current_phase       INTEGER NOT NULL,
        phase_started_at_ms INTEGER NOT NULL,
        created_at_ms       INTEGER NOT NULL,
        reason              TEXT
    );
    CREATE TABLE events (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms   INTEGER NOT NULL,
        app     TEXT,
        kind    TEXT    NOT NULL,
        subject TEXT,
        detail  TEXT    NOT NULL
    );
    CREATE INDEX events_by_app ON events (app, id);
    "#,
    // 6: build events kept for watchers on other replicas (see
    // BuildLogStore), cancel requests for builds other processes run, named
    // leases (one rollout ticker among replicas).
    r#"
    ALTER TABLE releases ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX releases_by_app_status ON releases (app, status, id);
    CREATE TABLE leases (
        name     TEXT    PRIMARY KEY,
        owner    TEXT    NOT NULL,
        until_ms INTEGER NOT NULL
    );
    CREATE TABLE build_events (
        release_id INTEGER NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
        seq        INTEGER NOT NULL,
        event      TEXT    NOT NULL,
        PRIMARY KEY (release_id, seq)
    );
    "#,
];
