-- Packed columns are already deflated by the application: skip Postgres's own compression
-- attempt (pglz would spend CPU and rarely win), keep them out of line only when large.
ALTER TABLE "sample_blocks" ALTER COLUMN "data" SET STORAGE EXTERNAL;--> statement-breakpoint
ALTER TABLE "aggregates_5m" ALTER COLUMN "data" SET STORAGE EXTERNAL;--> statement-breakpoint
ALTER TABLE "aggregates_1h" ALTER COLUMN "data" SET STORAGE EXTERNAL;--> statement-breakpoint
ALTER TABLE "full_maps" ALTER COLUMN "entry_hashes" SET STORAGE EXTERNAL;--> statement-breakpoint
INSERT INTO "rollup_state" ("name", "watermark_ms") VALUES ('aggregates', 0);
