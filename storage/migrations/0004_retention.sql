-- servechain schema v4: pruning after RETENTION_DAYS. Idempotency keys are dated (keys stored
-- before this migration count from the day it ran); indexes find what is old without scanning.
ALTER TABLE idempotency ADD COLUMN at timestamptz NOT NULL DEFAULT now();
CREATE INDEX idempotency_at ON idempotency (workspace, at);
CREATE INDEX claims_at ON claims (workspace, at);
CREATE INDEX outbox_sent ON outbox (workspace, created_at) WHERE state = 'sent';
CREATE INDEX inbox_done ON inbox (workspace, received_at) WHERE state = 'done';
