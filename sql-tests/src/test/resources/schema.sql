-- The schema every case runs against, created through the driver (sharded tables on every shard) and on the
-- reference PostgreSQL. Sharded: users, orders (user_id), events, jobs (text keys), devices (uuid), "Accounts".
CREATE TYPE user_status AS ENUM ('new', 'active', 'banned');
CREATE TABLE users (user_id bigint PRIMARY KEY, name text NOT NULL, email text, status user_status NOT NULL,
  score int NOT NULL, created_at timestamptz NOT NULL, tags text[] NOT NULL, doc jsonb NOT NULL);
CREATE TABLE orders (user_id bigint NOT NULL, order_id int NOT NULL, amount numeric(10,2) NOT NULL,
  status text NOT NULL, created_at timestamptz NOT NULL, items jsonb, PRIMARY KEY (user_id, order_id));
CREATE TABLE events (tenant text NOT NULL, event_id bigint NOT NULL, kind text NOT NULL, payload jsonb,
  PRIMARY KEY (tenant, event_id));
CREATE TABLE devices (device_id uuid PRIMARY KEY, owner bigint NOT NULL, model text NOT NULL, meta jsonb);
CREATE TABLE "Accounts" ("AccountId" bigint PRIMARY KEY, "Balance" numeric(12,2) NOT NULL, "Owner Name" text);
CREATE TABLE jobs (queue text NOT NULL, job_id bigint NOT NULL, state text NOT NULL, PRIMARY KEY (queue, job_id));
CREATE TABLE notes (note_id bigserial PRIMARY KEY, user_id bigint NOT NULL, body text);
CREATE TABLE countries (code text PRIMARY KEY, name text NOT NULL);
CREATE SEQUENCE ticket_seq;
