-- servechain schema v2: remember which state of a card was posted, so an older state
-- retried late never overwrites a newer one.
ALTER TABLE card_refs ADD COLUMN revision integer NOT NULL DEFAULT 0;
