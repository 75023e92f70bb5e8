--
-- PostgreSQL database dump
--

\restrict WbAuVGPuCWuNKvCUUgOaGJAi23iNbUPGtu6P3GDEdDMFbRkg9mDbNdU571F71SS

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: tenant_demo; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA tenant_demo;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: daily_energy; Type: TABLE; Schema: tenant_demo; Owner: -
--

CREATE TABLE tenant_demo.daily_energy (
    muid uuid NOT NULL,
    day date NOT NULL,
    import_kwh double precision NOT NULL,
    export_kwh double precision NOT NULL,
    ht_kwh double precision NOT NULL,
    nt_kwh double precision NOT NULL,
    cost double precision NOT NULL,
    feed_in_credit double precision NOT NULL,
    peak_kw double precision,
    peak_at timestamp with time zone,
    intervals smallint NOT NULL,
    expected_intervals smallint NOT NULL,
    complete boolean NOT NULL
);


--
-- Name: hourly_energy; Type: TABLE; Schema: tenant_demo; Owner: -
--

CREATE TABLE tenant_demo.hourly_energy (
    muid uuid NOT NULL,
    hour_start timestamp with time zone NOT NULL,
    local_date date NOT NULL,
    local_hour smallint NOT NULL,
    iso_weekday smallint NOT NULL,
    import_kwh double precision NOT NULL,
    export_kwh double precision NOT NULL,
    ht_kwh double precision NOT NULL,
    nt_kwh double precision NOT NULL,
    cost double precision NOT NULL,
    feed_in_credit double precision NOT NULL,
    intervals smallint NOT NULL
);


--
-- Name: ingested_objects; Type: TABLE; Schema: tenant_demo; Owner: -
--

CREATE TABLE tenant_demo.ingested_objects (
    key text NOT NULL,
    etag text NOT NULL,
    size bigint NOT NULL,
    last_modified timestamp with time zone NOT NULL,
    partition_day date NOT NULL,
    rows_read integer NOT NULL,
    rows_written integer NOT NULL,
    rows_rejected integer NOT NULL,
    run_id text,
    ingested_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: insights; Type: TABLE; Schema: tenant_demo; Owner: -
--

CREATE TABLE tenant_demo.insights (
    tenant text NOT NULL,
    muid uuid NOT NULL,
    period_start date NOT NULL,
    period_end date NOT NULL,
    kind text NOT NULL,
    value double precision,
    unit text NOT NULL,
    severity text NOT NULL,
    rank smallint NOT NULL,
    message text NOT NULL,
    computed_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT insights_severity_check CHECK ((severity = ANY (ARRAY['info'::text, 'tip'::text, 'warning'::text])))
);


--
-- Name: meter_readings; Type: TABLE; Schema: tenant_demo; Owner: -
--

CREATE TABLE tenant_demo.meter_readings (
    muid uuid NOT NULL,
    obis character(12) NOT NULL,
    register text NOT NULL,
    ts timestamp with time zone NOT NULL,
    kwh double precision NOT NULL,
    quality text NOT NULL,
    source_key text NOT NULL,
    source_etag text NOT NULL,
    revision integer DEFAULT 0 NOT NULL,
    ingested_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT meter_readings_kwh_check CHECK ((kwh >= (0)::double precision))
)
PARTITION BY RANGE (ts);


--
-- Name: meter_readings_2023_02; Type: TABLE; Schema: tenant_demo; Owner: -
--

CREATE TABLE tenant_demo.meter_readings_2023_02 (
    muid uuid NOT NULL,
    obis character(12) NOT NULL,
    register text NOT NULL,
    ts timestamp with time zone NOT NULL,
    kwh double precision NOT NULL,
    quality text NOT NULL,
    source_key text NOT NULL,
    source_etag text NOT NULL,
    revision integer DEFAULT 0 NOT NULL,
    ingested_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT meter_readings_kwh_check CHECK ((kwh >= (0)::double precision))
);


--
-- Name: rejected_readings; Type: TABLE; Schema: tenant_demo; Owner: -
--

CREATE TABLE tenant_demo.rejected_readings (
    id bigint NOT NULL,
    source_key text NOT NULL,
    source_etag text,
    record_index integer,
    muid text,
    obis text,
    ts_text text,
    value_text text,
    rule text NOT NULL,
    message text NOT NULL,
    record jsonb,
    rejected_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: rejected_readings_id_seq; Type: SEQUENCE; Schema: tenant_demo; Owner: -
--

CREATE SEQUENCE tenant_demo.rejected_readings_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: rejected_readings_id_seq; Type: SEQUENCE OWNED BY; Schema: tenant_demo; Owner: -
--

ALTER SEQUENCE tenant_demo.rejected_readings_id_seq OWNED BY tenant_demo.rejected_readings.id;


--
-- Name: tariff_slots; Type: TABLE; Schema: tenant_demo; Owner: -
--

CREATE TABLE tenant_demo.tariff_slots (
    isoweekday smallint NOT NULL,
    slot smallint NOT NULL,
    band text NOT NULL,
    rate double precision NOT NULL,
    CONSTRAINT tariff_slots_isoweekday_check CHECK (((isoweekday >= 1) AND (isoweekday <= 7))),
    CONSTRAINT tariff_slots_rate_check CHECK ((rate >= (0)::double precision)),
    CONSTRAINT tariff_slots_slot_check CHECK (((slot >= 0) AND (slot <= 95)))
);


--
-- Name: weekday_hour_profile; Type: TABLE; Schema: tenant_demo; Owner: -
--

CREATE TABLE tenant_demo.weekday_hour_profile (
    muid uuid NOT NULL,
    weekday smallint NOT NULL,
    hour smallint NOT NULL,
    avg_import_kwh double precision NOT NULL,
    avg_export_kwh double precision NOT NULL,
    days smallint NOT NULL,
    window_start date NOT NULL,
    window_end date NOT NULL,
    CONSTRAINT weekday_hour_profile_hour_check CHECK (((hour >= 0) AND (hour <= 23))),
    CONSTRAINT weekday_hour_profile_weekday_check CHECK (((weekday >= 1) AND (weekday <= 7)))
);


--
-- Name: meter_readings_2023_02; Type: TABLE ATTACH; Schema: tenant_demo; Owner: -
--

ALTER TABLE ONLY tenant_demo.meter_readings ATTACH PARTITION tenant_demo.meter_readings_2023_02 FOR VALUES FROM ('2023-02-01 00:00:00+00') TO ('2023-03-01 00:00:00+00');


--
-- Name: rejected_readings id; Type: DEFAULT; Schema: tenant_demo; Owner: -
--

ALTER TABLE ONLY tenant_demo.rejected_readings ALTER COLUMN id SET DEFAULT nextval('tenant_demo.rejected_readings_id_seq'::regclass);


--
-- Name: daily_energy daily_energy_pkey; Type: CONSTRAINT; Schema: tenant_demo; Owner: -
--

ALTER TABLE ONLY tenant_demo.daily_energy
    ADD CONSTRAINT daily_energy_pkey PRIMARY KEY (muid, day);


--
-- Name: hourly_energy hourly_energy_pkey; Type: CONSTRAINT; Schema: tenant_demo; Owner: -
--

ALTER TABLE ONLY tenant_demo.hourly_energy
    ADD CONSTRAINT hourly_energy_pkey PRIMARY KEY (muid, hour_start);


--
-- Name: ingested_objects ingested_objects_pkey; Type: CONSTRAINT; Schema: tenant_demo; Owner: -
--

ALTER TABLE ONLY tenant_demo.ingested_objects
    ADD CONSTRAINT ingested_objects_pkey PRIMARY KEY (key);


--
-- Name: insights insights_pkey; Type: CONSTRAINT; Schema: tenant_demo; Owner: -
--

ALTER TABLE ONLY tenant_demo.insights
    ADD CONSTRAINT insights_pkey PRIMARY KEY (muid, kind);


--
-- Name: meter_readings meter_readings_pkey; Type: CONSTRAINT; Schema: tenant_demo; Owner: -
--

ALTER TABLE ONLY tenant_demo.meter_readings
    ADD CONSTRAINT meter_readings_pkey PRIMARY KEY (muid, obis, ts);


--
-- Name: meter_readings_2023_02 meter_readings_2023_02_pkey; Type: CONSTRAINT; Schema: tenant_demo; Owner: -
--

ALTER TABLE ONLY tenant_demo.meter_readings_2023_02
    ADD CONSTRAINT meter_readings_2023_02_pkey PRIMARY KEY (muid, obis, ts);


--
-- Name: rejected_readings rejected_readings_pkey; Type: CONSTRAINT; Schema: tenant_demo; Owner: -
--

ALTER TABLE ONLY tenant_demo.rejected_readings
    ADD CONSTRAINT rejected_readings_pkey PRIMARY KEY (id);


--
-- Name: tariff_slots tariff_slots_pkey; Type: CONSTRAINT; Schema: tenant_demo; Owner: -
--

ALTER TABLE ONLY tenant_demo.tariff_slots
    ADD CONSTRAINT tariff_slots_pkey PRIMARY KEY (isoweekday, slot);


--
-- Name: weekday_hour_profile weekday_hour_profile_pkey; Type: CONSTRAINT; Schema: tenant_demo; Owner: -
--

ALTER TABLE ONLY tenant_demo.weekday_hour_profile
    ADD CONSTRAINT weekday_hour_profile_pkey PRIMARY KEY (muid, weekday, hour);


--
-- Name: daily_energy_day; Type: INDEX; Schema: tenant_demo; Owner: -
--

CREATE INDEX daily_energy_day ON tenant_demo.daily_energy USING btree (day);


--
-- Name: hourly_energy_hour_start; Type: INDEX; Schema: tenant_demo; Owner: -
--

CREATE INDEX hourly_energy_hour_start ON tenant_demo.hourly_energy USING btree (hour_start);


--
-- Name: ingested_objects_ingested_at; Type: INDEX; Schema: tenant_demo; Owner: -
--

CREATE INDEX ingested_objects_ingested_at ON tenant_demo.ingested_objects USING btree (ingested_at);


--
-- Name: meter_readings_ts_idx; Type: INDEX; Schema: tenant_demo; Owner: -
--

CREATE INDEX meter_readings_ts_idx ON ONLY tenant_demo.meter_readings USING btree (ts);


--
-- Name: meter_readings_2023_02_ts_idx; Type: INDEX; Schema: tenant_demo; Owner: -
--

CREATE INDEX meter_readings_2023_02_ts_idx ON tenant_demo.meter_readings_2023_02 USING btree (ts);


--
-- Name: rejected_readings_source; Type: INDEX; Schema: tenant_demo; Owner: -
--

CREATE INDEX rejected_readings_source ON tenant_demo.rejected_readings USING btree (source_key, source_etag);


--
-- Name: meter_readings_2023_02_pkey; Type: INDEX ATTACH; Schema: tenant_demo; Owner: -
--

ALTER INDEX tenant_demo.meter_readings_pkey ATTACH PARTITION tenant_demo.meter_readings_2023_02_pkey;


--
-- Name: meter_readings_2023_02_ts_idx; Type: INDEX ATTACH; Schema: tenant_demo; Owner: -
--

ALTER INDEX tenant_demo.meter_readings_ts_idx ATTACH PARTITION tenant_demo.meter_readings_2023_02_ts_idx;


--
-- PostgreSQL database dump complete
--

\unrestrict WbAuVGPuCWuNKvCUUgOaGJAi23iNbUPGtu6P3GDEdDMFbRkg9mDbNdU571F71SS

