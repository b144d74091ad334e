CREATE TABLE "leak_reports" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "leak_reports_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"schedule" text NOT NULL,
	"slot_ms" bigint,
	"scope" text DEFAULT '' NOT NULL,
	"state" text NOT NULL,
	"claimed_by" text NOT NULL,
	"claimed_at_ms" bigint NOT NULL,
	"attempts" integer DEFAULT 1 NOT NULL,
	"window_ms" bigint NOT NULL,
	"metric" text NOT NULL,
	"generated_at_ms" bigint,
	"body" jsonb,
	"hosts" integer,
	"processes" integer,
	"leaking_hosts" integer,
	"leaking_processes" integer,
	"new_leaks" integer,
	"error" text,
	"delivery" text DEFAULT 'none' NOT NULL,
	"delivery_attempts" integer DEFAULT 0 NOT NULL,
	"delivery_next_at_ms" bigint,
	"delivered_at_ms" bigint,
	"delivery_error" text,
	CONSTRAINT "leak_reports_state" CHECK ("leak_reports"."state" in ('running', 'done', 'failed')),
	CONSTRAINT "leak_reports_delivery" CHECK ("leak_reports"."delivery" in ('none', 'pending', 'delivered', 'failed')),
	CONSTRAINT "leak_reports_done_has_body" CHECK (("leak_reports"."state" = 'done') = ("leak_reports"."body" is not null))
);
--> statement-breakpoint
CREATE UNIQUE INDEX "leak_reports_slot" ON "leak_reports" USING btree ("schedule","slot_ms");--> statement-breakpoint
CREATE INDEX "leak_reports_pending_delivery" ON "leak_reports" USING btree ("delivery_next_at_ms") WHERE "leak_reports"."delivery" = 'pending';