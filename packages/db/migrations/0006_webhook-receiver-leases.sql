CREATE TABLE "webhook_receiver_leases" (
	"key" text PRIMARY KEY NOT NULL,
	"holder" text NOT NULL,
	"leased_until_ms" bigint NOT NULL
);
