--liquibase formatted sql

--changeset shardline:5
ALTER TABLE account ADD CONSTRAINT owner_short CHECK (length(owner) < 5);
