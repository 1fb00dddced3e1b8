-- holds on the shards whose owners are short, fails on the one holding 'charlotte' (inserted by the test)
ALTER TABLE account ADD CONSTRAINT owner_short CHECK (length(owner) < 5);
