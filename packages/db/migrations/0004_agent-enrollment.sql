ALTER TABLE "api_tokens" DROP CONSTRAINT "api_tokens_role";--> statement-breakpoint
ALTER TABLE "api_tokens" ADD COLUMN "host_pattern" text;--> statement-breakpoint
ALTER TABLE "api_tokens" ADD COLUMN "enrolled_by" integer;--> statement-breakpoint
ALTER TABLE "api_tokens" ADD COLUMN "expires_ms" bigint;--> statement-breakpoint
CREATE INDEX "api_tokens_host" ON "api_tokens" USING btree ("host_name");--> statement-breakpoint
ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_enroll_pattern" CHECK ("api_tokens"."host_pattern" is null or "api_tokens"."role" = 'enroll');--> statement-breakpoint
ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_enrolled_agent" CHECK ("api_tokens"."enrolled_by" is null or "api_tokens"."role" = 'agent');--> statement-breakpoint
ALTER TABLE "api_tokens" ADD CONSTRAINT "api_tokens_role" CHECK ("api_tokens"."role" in ('admin', 'reader', 'agent', 'enroll'));