-- servechain schema v3: the inbox. A command, click or form is stored here before the
-- platform is told "received", and run from here, so a crash after the acknowledgement
-- loses nothing; a done item keeps no payload.
CREATE TABLE inbox (
    workspace text NOT NULL,
    key text NOT NULL,
    state text NOT NULL,
    received_at timestamptz NOT NULL,
    lease_until timestamptz NOT NULL,
    owner text NOT NULL,
    version integer NOT NULL,
    doc jsonb NOT NULL,
    PRIMARY KEY (workspace, key)
);
CREATE INDEX inbox_due ON inbox (lease_until, received_at) WHERE state = 'pending';
CREATE INDEX inbox_state ON inbox (workspace, state);
