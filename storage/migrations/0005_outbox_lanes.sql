-- servechain schema v5: concurrent delivery. Each outbox item belongs to a lane (its
-- recipient's conversation; one item of a lane is in flight at a time), has a priority
-- (0: a person is waiting for it, 1: bulk) and, while a worker sends it, that worker's lease
-- token.
ALTER TABLE outbox ADD COLUMN lane text NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN priority smallint NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN lease text;
UPDATE outbox SET
    lane = workspace || '/' || (doc->'message'->>'recipient_id'),
    priority = CASE WHEN doc->'message'->>'kind' IN ('digest', 'pulse', 'nudge') THEN 1 ELSE 0 END,
    lease = doc->>'lease'
WHERE state = 'pending';  -- only pending items are ever leased; sent and failed ones keep the defaults
CREATE INDEX outbox_lane ON outbox (lane, created_at, seq) WHERE state = 'pending';
CREATE INDEX outbox_leased ON outbox (lease) WHERE state = 'pending' AND lease IS NOT NULL;
