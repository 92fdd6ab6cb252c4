-- PlanningSup's plannings tables, written by hand from its drizzle migrations,
-- as an existing upstream database has them. Used to prove adoption with
-- `migrate --fake-initial`.
CREATE TABLE "plannings" (
	"full_id" varchar(255) PRIMARY KEY NOT NULL,
	"planning_id" varchar(255) NOT NULL,
	"url" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"title" text
);
CREATE INDEX "plannings_title_idx" ON "plannings" USING btree ("title");

CREATE TABLE "plannings_backup" (
	"planning_full_id" varchar(255) PRIMARY KEY NOT NULL,
	"events" jsonb NOT NULL,
	"signature" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
ALTER TABLE "plannings_backup" ADD CONSTRAINT "plannings_backup_planning_full_id_plannings_full_id_fk"
	FOREIGN KEY ("planning_full_id") REFERENCES "public"."plannings"("full_id") ON DELETE cascade ON UPDATE no action;
CREATE INDEX "plannings_backup_latest_updated_at_idx" ON "plannings_backup" USING btree ("updated_at");

CREATE TABLE "plannings_refresh_queue" (
	"planning_full_id" varchar(255) PRIMARY KEY NOT NULL,
	"priority" integer DEFAULT 0 NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"requested_at" timestamp with time zone DEFAULT now() NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"locked_at" timestamp with time zone,
	"lock_owner" text,
	"last_error" text
);
ALTER TABLE "plannings_refresh_queue" ADD CONSTRAINT "plannings_refresh_queue_planning_full_id_plannings_full_id_fk"
	FOREIGN KEY ("planning_full_id") REFERENCES "public"."plannings"("full_id") ON DELETE cascade ON UPDATE no action;
CREATE INDEX "plannings_refresh_queue_next_attempt_at_idx" ON "plannings_refresh_queue" USING btree ("next_attempt_at");
CREATE INDEX "plannings_refresh_queue_priority_idx" ON "plannings_refresh_queue" USING btree ("priority");
CREATE INDEX "plannings_refresh_queue_pick_idx" ON "plannings_refresh_queue" USING btree ("next_attempt_at","priority","requested_at");

CREATE TABLE "plannings_refresh_state" (
	"planning_full_id" varchar(255) PRIMARY KEY NOT NULL,
	"disabled_until" timestamp with time zone,
	"consecutive_failures" integer DEFAULT 0 NOT NULL,
	"last_failure_kind" text,
	"last_error" text,
	"last_attempt_at" timestamp with time zone,
	"last_success_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
ALTER TABLE "plannings_refresh_state" ADD CONSTRAINT "plannings_refresh_state_planning_full_id_plannings_full_id_fk"
	FOREIGN KEY ("planning_full_id") REFERENCES "public"."plannings"("full_id") ON DELETE cascade ON UPDATE no action;
CREATE INDEX "plannings_refresh_state_disabled_until_idx" ON "plannings_refresh_state" USING btree ("disabled_until");

-- Rows an upstream deployment already holds.
INSERT INTO "plannings" ("full_id", "planning_id", "url", "title")
	VALUES ('enscr.cycleingenieur.1iereanneeci.elevesing1iereannee', 'enscr',
	        'https://planning.ensc-rennes.fr/jsp/custom/modules/plannings/XmWbdXY2.shu', 'Elèves Ing. 1ière année'),
	       ('legacy.only.here', 'legacy', 'https://legacy.test/a.ics', 'Gone from the catalog');
INSERT INTO "plannings_backup" ("planning_full_id", "events", "signature")
	VALUES ('legacy.only.here', '[]', md5('[]'));
INSERT INTO "plannings_refresh_state" ("planning_full_id", "disabled_until", "consecutive_failures", "last_failure_kind")
	VALUES ('enscr.cycleingenieur.1iereanneeci.elevesing1iereannee', now() + interval '1 day', 3, 'timeout');
