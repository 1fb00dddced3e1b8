-- a reference table, two sharded tables keyed by the account, foreign keys that hold on every shard
CREATE TABLE currency (code text PRIMARY KEY, name text NOT NULL);
CREATE TABLE account (id bigint PRIMARY KEY, owner text NOT NULL, currency text NOT NULL REFERENCES currency);
CREATE TABLE entry (
    account_id bigint NOT NULL REFERENCES account (id),
    seq int NOT NULL,
    amount numeric(12, 2) NOT NULL,
    PRIMARY KEY (account_id, seq)
);
CREATE INDEX entry_amount ON entry (amount);
