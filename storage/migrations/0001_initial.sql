-- servechain schema v1: one row per record, the full pydantic document as jsonb,
-- plus the columns the queries filter on.
CREATE TABLE people (
    workspace text NOT NULL,
    id text NOT NULL,
    handle text NOT NULL,
    email text,
    teams_id text,
    doc jsonb NOT NULL,
    PRIMARY KEY (workspace, id)
);
CREATE INDEX people_handle ON people (workspace, lower(handle));
CREATE INDEX people_email ON people (workspace, lower(email));
CREATE INDEX people_teams ON people (workspace, teams_id);
CREATE INDEX people_doc ON people USING gin (doc jsonb_path_ops);

CREATE TABLE teams (
    workspace text NOT NULL,
    id text NOT NULL,
    name text NOT NULL,
    doc jsonb NOT NULL,
    PRIMARY KEY (workspace, id)
);

CREATE TABLE counters (
    workspace text NOT NULL,
    name text NOT NULL,
    value bigint NOT NULL,
    PRIMARY KEY (workspace, name)
);

CREATE TABLE requests (
    workspace text NOT NULL,
    number integer NOT NULL,
    requester_id text NOT NULL,
    provider_id text NOT NULL,
    is_open boolean NOT NULL,
    parent integer,
    created_at timestamptz NOT NULL,
    version integer NOT NULL,
    doc jsonb NOT NULL,
    PRIMARY KEY (workspace, number)
);
CREATE INDEX requests_provider ON requests (workspace, provider_id, number DESC);
CREATE INDEX requests_provider_open ON requests (workspace, provider_id, number DESC) WHERE is_open;
CREATE INDEX requests_requester ON requests (workspace, requester_id, number DESC);
CREATE INDEX requests_parent ON requests (workspace, parent);
CREATE INDEX requests_created ON requests (workspace, created_at);

CREATE TABLE idempotency (
    workspace text NOT NULL,
    key text NOT NULL,
    kind text NOT NULL,
    ref text,
    PRIMARY KEY (workspace, key)
);

CREATE TABLE kudos (
    workspace text NOT NULL,
    id text NOT NULL,
    giver_id text NOT NULL,
    recipient_ids text[] NOT NULL,
    at timestamptz NOT NULL,
    seq bigserial,
    doc jsonb NOT NULL,
    PRIMARY KEY (workspace, id)
);
CREATE INDEX kudos_giver ON kudos (workspace, giver_id, at);
CREATE INDEX kudos_recipients ON kudos USING gin (recipient_ids);
CREATE INDEX kudos_at ON kudos (workspace, at);

CREATE TABLE claims (
    workspace text NOT NULL,
    key text NOT NULL,
    at timestamptz NOT NULL,
    PRIMARY KEY (workspace, key)
);

CREATE TABLE outbox (
    key text PRIMARY KEY,
    workspace text NOT NULL,
    state text NOT NULL,
    created_at timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    seq bigserial,
    version integer NOT NULL,
    doc jsonb NOT NULL
);
CREATE INDEX outbox_due ON outbox (next_attempt_at, seq) WHERE state = 'pending';
CREATE INDEX outbox_workspace ON outbox (workspace, seq);

CREATE TABLE card_refs (
    workspace text NOT NULL,
    card_key text NOT NULL,
    platform text NOT NULL,
    ref text NOT NULL,
    PRIMARY KEY (workspace, card_key, platform)
);

CREATE TABLE docs (
    kind text NOT NULL,
    workspace text NOT NULL,
    key text NOT NULL,
    doc jsonb NOT NULL,
    PRIMARY KEY (kind, workspace, key)
);
