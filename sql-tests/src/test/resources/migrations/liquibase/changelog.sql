--liquibase formatted sql

--changeset shardline:1
CREATE TABLE currency (code text PRIMARY KEY, name text NOT NULL);
CREATE TABLE account (id bigint PRIMARY KEY, owner text NOT NULL, currency text NOT NULL REFERENCES currency);
CREATE TABLE entry (
    account_id bigint NOT NULL REFERENCES account (id),
    seq int NOT NULL,
    amount numeric(12, 2) NOT NULL,
    PRIMARY KEY (account_id, seq)
);
CREATE INDEX entry_amount ON entry (amount);

--changeset shardline:2
INSERT INTO currency VALUES ('EUR', 'Euro'), ('USD', 'US dollar');
INSERT INTO account VALUES (1, 'ann', 'EUR');
INSERT INTO account VALUES (2, 'bob', 'USD');
INSERT INTO account VALUES (3, 'cy', 'EUR');
INSERT INTO account VALUES (4, 'dee', 'USD');
INSERT INTO account VALUES (5, 'ed', 'EUR');
INSERT INTO account VALUES (6, 'flo', 'EUR');
INSERT INTO entry VALUES (1, 1, 10.00), (1, 2, 5.50);
INSERT INTO entry VALUES (2, 1, 7.25);
INSERT INTO entry VALUES (3, 1, 1.00);
INSERT INTO entry VALUES (4, 1, 2.00);
INSERT INTO entry VALUES (5, 1, 3.00);
INSERT INTO entry VALUES (6, 1, 4.00);

--changeset shardline:3
ALTER TABLE account ADD COLUMN opened date NOT NULL DEFAULT DATE '2026-01-01';
CREATE VIEW account_balance AS SELECT account_id, sum(amount) AS balance FROM entry GROUP BY account_id;

--changeset shardline:4 splitStatements:false
CREATE FUNCTION account_total(p_id bigint) RETURNS numeric LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(amount), 0) FROM entry WHERE account_id = p_id
$$;
