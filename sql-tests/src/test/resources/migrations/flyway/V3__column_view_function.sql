ALTER TABLE account ADD COLUMN opened date NOT NULL DEFAULT DATE '2026-01-01';
CREATE VIEW account_balance AS
    SELECT account_id, sum(amount) AS balance FROM entry GROUP BY account_id;
CREATE FUNCTION account_total(p_id bigint) RETURNS numeric LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(amount), 0) FROM entry WHERE account_id = p_id
$$;
