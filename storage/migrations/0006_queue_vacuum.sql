-- servechain schema v6: the outbox and the inbox are queues. Every command and every send
-- rewrites their rows a few times (a lease, an outcome), and each rewrite leaves a dead row and
-- dead index entries that the next lease steps over until VACUUM removes them. By default
-- autovacuum waits for 20% of a table to be dead: with 30 days of sent messages kept
-- (RETENTION_DAYS) that is hundreds of thousands of dead entries under the lease's scan. Vacuum
-- these two after every 10,000 dead rows instead, whatever their size.
ALTER TABLE outbox SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000);
ALTER TABLE inbox SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000);
