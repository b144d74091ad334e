CREATE TABLE "aggregates_1h" (
	"host_id" integer NOT NULL,
	"bucket_ms" bigint NOT NULL,
	"process_count" integer NOT NULL,
	"data" "bytea" NOT NULL,
	CONSTRAINT "aggregates_1h_host_id_bucket_ms_pk" PRIMARY KEY("host_id","bucket_ms")
) PARTITION BY RANGE ("bucket_ms");
--> statement-breakpoint
CREATE TABLE "aggregates_5m" (
	"host_id" integer NOT NULL,
	"bucket_ms" bigint NOT NULL,
	"process_count" integer NOT NULL,
	"data" "bytea" NOT NULL,
	CONSTRAINT "aggregates_5m_host_id_bucket_ms_pk" PRIMARY KEY("host_id","bucket_ms")
) PARTITION BY RANGE ("bucket_ms");
--> statement-breakpoint
CREATE TABLE "api_tokens" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "api_tokens_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"prefix" text NOT NULL,
	"hash" "bytea" NOT NULL,
	"role" text NOT NULL,
	"host_name" text,
	"note" text DEFAULT '' NOT NULL,
	"created_ms" bigint NOT NULL,
	"last_used_ms" bigint,
	"revoked_ms" bigint,
	CONSTRAINT "api_tokens_hash_unique" UNIQUE("hash"),
	CONSTRAINT "api_tokens_role" CHECK ("api_tokens"."role" in ('admin', 'reader', 'agent')),
	CONSTRAINT "api_tokens_agent_host" CHECK (("api_tokens"."role" = 'agent') = ("api_tokens"."host_name" is not null))
);
--> statement-breakpoint
CREATE TABLE "full_maps" (
	"host_id" integer NOT NULL,
	"pid" integer NOT NULL,
	"start_ticks" bigint NOT NULL,
	"taken_at_ms" bigint NOT NULL,
	"boot_id" uuid NOT NULL,
	"snapshot_id" uuid NOT NULL,
	"mapping_count" integer NOT NULL,
	"entry_hashes" "bytea" NOT NULL,
	CONSTRAINT "full_maps_host_id_pid_start_ticks_taken_at_ms_pk" PRIMARY KEY("host_id","pid","start_ticks","taken_at_ms")
) PARTITION BY RANGE ("taken_at_ms");
--> statement-breakpoint
CREATE TABLE "hosts" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "hosts_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"name" text NOT NULL,
	"labels" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"boot_id" uuid NOT NULL,
	"kernel" text NOT NULL,
	"mem_total_kb" bigint NOT NULL,
	"page_size_kb" integer NOT NULL,
	"clock_ticks_per_sec" integer NOT NULL,
	"agent_version" text NOT NULL,
	"first_seen_ms" bigint NOT NULL,
	"last_seen_ms" bigint NOT NULL,
	"process_count" integer NOT NULL,
	CONSTRAINT "hosts_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "incarnations" (
	"host_id" integer NOT NULL,
	"boot_id" uuid NOT NULL,
	"pid" integer NOT NULL,
	"start_ticks" bigint NOT NULL,
	"ppid" integer NOT NULL,
	"uid" bigint NOT NULL,
	"comm" text NOT NULL,
	"cmdline" text NOT NULL,
	"exe" text,
	"cgroup" text,
	"first_seen_ms" bigint NOT NULL,
	"last_seen_ms" bigint NOT NULL,
	CONSTRAINT "incarnations_host_id_boot_id_pid_start_ticks_pk" PRIMARY KEY("host_id","boot_id","pid","start_ticks")
);
--> statement-breakpoint
CREATE TABLE "map_entries" (
	"host_id" integer NOT NULL,
	"day_ms" bigint NOT NULL,
	"hash" "bytea" NOT NULL,
	"data" "bytea" NOT NULL,
	CONSTRAINT "map_entries_host_id_day_ms_hash_pk" PRIMARY KEY("host_id","day_ms","hash")
) PARTITION BY RANGE ("day_ms");
--> statement-breakpoint
CREATE TABLE "rollup_state" (
	"name" text PRIMARY KEY NOT NULL,
	"watermark_ms" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sample_blocks" (
	"host_id" integer NOT NULL,
	"taken_at_ms" bigint NOT NULL,
	"snapshot_id" uuid NOT NULL,
	"boot_id" uuid NOT NULL,
	"base_taken_at_ms" bigint,
	"base_snapshot_id" uuid,
	"ingested_at_ms" bigint DEFAULT (extract(epoch from clock_timestamp()) * 1000)::bigint NOT NULL,
	"process_count" integer NOT NULL,
	"data" "bytea" NOT NULL,
	CONSTRAINT "sample_blocks_host_id_taken_at_ms_snapshot_id_pk" PRIMARY KEY("host_id","taken_at_ms","snapshot_id")
) PARTITION BY RANGE ("taken_at_ms");
--> statement-breakpoint
CREATE INDEX "incarnations_last_seen" ON "incarnations" USING btree ("host_id","last_seen_ms");--> statement-breakpoint
CREATE INDEX "sample_blocks_ingested" ON "sample_blocks" USING btree ("ingested_at_ms");