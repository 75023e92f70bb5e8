-- Dagster's run and event storage lives in its own database on the same server.
CREATE DATABASE dagster OWNER exnaton;
