ALTER TABLE "leak_verdicts" ADD COLUMN "started_at_ms" bigint;--> statement-breakpoint
-- Verdicts stored before the column know no starts. They are a cache: without a run, `top` scores
-- live until the next refresh recomputes every window with its starts.
DELETE FROM "leak_verdicts";--> statement-breakpoint
DELETE FROM "verdict_runs";
