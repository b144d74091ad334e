CREATE TABLE "leak_verdicts" (
	"metric" text NOT NULL,
	"window_ms" bigint NOT NULL,
	"host_id" integer NOT NULL,
	"host" text NOT NULL,
	"boot_id" uuid NOT NULL,
	"pid" integer NOT NULL,
	"start_ticks" bigint NOT NULL,
	"comm" text NOT NULL,
	"cmdline" text NOT NULL,
	"exe" text,
	"cgroup" text,
	"first_seen_ms" bigint NOT NULL,
	"last_seen_ms" bigint NOT NULL,
	"started_at_ms" bigint,
	"current_kb" double precision NOT NULL,
	"growth_kb" double precision NOT NULL,
	"slope_kb_per_hour" double precision NOT NULL,
	"pct_per_hour" double precision NOT NULL,
	"confidence" double precision NOT NULL,
	"leak" boolean NOT NULL,
	"time_to_limit_hours" double precision,
	"limit_kb" bigint,
	"reason" text NOT NULL,
	"incarnations" integer NOT NULL,
	CONSTRAINT "leak_verdicts_metric_window_ms_host_id_boot_id_pid_start_ticks_pk" PRIMARY KEY("metric","window_ms","host_id","boot_id","pid","start_ticks")
);
--> statement-breakpoint
CREATE TABLE "verdict_runs" (
	"metric" text NOT NULL,
	"window_ms" bigint NOT NULL,
	"to_ms" bigint NOT NULL,
	"watermark_ms" bigint NOT NULL,
	"computed_at_ms" bigint NOT NULL,
	"rows" integer NOT NULL,
	"took_ms" integer NOT NULL,
	CONSTRAINT "verdict_runs_metric_window_ms_pk" PRIMARY KEY("metric","window_ms")
);
--> statement-breakpoint
ALTER TABLE "incarnations" ADD COLUMN "started_at_ms" bigint;--> statement-breakpoint
ALTER TABLE "incarnations" ADD COLUMN "memory_limit_kb" bigint;--> statement-breakpoint
CREATE INDEX "leak_verdicts_rank" ON "leak_verdicts" USING btree ("metric","window_ms","leak" DESC NULLS LAST,"slope_kb_per_hour" DESC NULLS LAST);