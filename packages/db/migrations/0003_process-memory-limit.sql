ALTER TABLE "incarnations" ADD COLUMN "memory_limit_kb" bigint;--> statement-breakpoint
ALTER TABLE "leak_verdicts" ADD COLUMN "limit_kb" bigint;--> statement-breakpoint
-- Stored verdicts are a cache: emptied, the next refresh stores them with the limit they used.
DELETE FROM "leak_verdicts";--> statement-breakpoint
DELETE FROM "verdict_runs";
