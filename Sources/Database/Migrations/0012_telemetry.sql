-- Telemetry: what the server observes (RPC observations, errors) and what clients report (usage
-- events, client metrics). The three high-volume tables are range-partitioned by month on
-- created_at, so that retention drops whole partitions instead of deleting rows one by one. The
-- partitions live in `internal` (not exposed; clients hold no privileges there) and are made by
-- internal.telemetry_maintenance() below, which the server runs on start and then periodically.
--
-- PostgreSQL 15 has no identity columns on partitioned tables: ids come from a plain sequence.

CREATE TABLE public.rpc_observations (
    id bigserial,
    created_at timestamptz NOT NULL DEFAULT now(),
    fn text NOT NULL,              -- the function (rpc/…) or table the request addressed
    method text NOT NULL,
    role text NOT NULL,
    user_id uuid,
    status smallint NOT NULL,
    duration_ms real NOT NULL,     -- the whole request, as the server saw it
    db_ms real,                    -- the database's share (null when the database was not asked)
    error_code text,
    request_id text,
    meta jsonb NOT NULL DEFAULT '{}', -- at least cache_result: hit, miss, stale, coalesced, bypass
    PRIMARY KEY (created_at, id)
) PARTITION BY RANGE (created_at);
-- No index beyond the primary key: observations are written at request rate and read by time
-- range (partition pruning, then the key); every extra index would cost each request's write.

CREATE TABLE public.usage_events (
    id bigserial,
    user_id uuid REFERENCES auth.users (id) ON DELETE CASCADE,
    event text NOT NULL,
    props jsonb NOT NULL DEFAULT '{}',
    session_id text,
    client_ts timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (created_at, id)
) PARTITION BY RANGE (created_at);
-- "what did this user do lately" and "how often did this happen lately".
CREATE INDEX usage_events_user_idx ON public.usage_events (user_id, created_at DESC);
CREATE INDEX usage_events_event_idx ON public.usage_events (event, created_at DESC);

CREATE TABLE public.client_metrics (
    id bigserial,
    user_id uuid,
    name text NOT NULL,
    value double precision NOT NULL,
    unit text NOT NULL DEFAULT '',
    tags jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (created_at, id)
) PARTITION BY RANGE (created_at);
CREATE INDEX client_metrics_name_idx ON public.client_metrics (name, created_at DESC);

-- Unexpected errors, grouped by fingerprint. Low volume (sampled): a plain table.
CREATE TABLE public.error_events (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    fingerprint text NOT NULL,
    error_type text NOT NULL,
    message text NOT NULL,
    request_id text,
    route text,
    method text,
    role text,
    user_id uuid,
    status smallint,
    context jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX error_events_fingerprint_idx ON public.error_events (fingerprint, created_at DESC);
CREATE INDEX error_events_created_at_idx ON public.error_events (created_at);

-- Row Level Security: operators' data is for admins; a user reads only their own usage events.
-- Nobody writes through the tables but the server (service_role) and the definer functions below.
ALTER TABLE public.rpc_observations ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.rpc_observations FORCE ROW LEVEL SECURITY;
ALTER TABLE public.usage_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.usage_events FORCE ROW LEVEL SECURITY;
ALTER TABLE public.client_metrics ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.client_metrics FORCE ROW LEVEL SECURITY;
ALTER TABLE public.error_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.error_events FORCE ROW LEVEL SECURITY;

CREATE POLICY rpc_observations_admins ON public.rpc_observations FOR SELECT TO authenticated
    USING ((SELECT public.is_admin()));
CREATE POLICY usage_events_own ON public.usage_events FOR SELECT TO authenticated
    USING (user_id = (SELECT auth.uid()) OR (SELECT public.is_admin()));
CREATE POLICY client_metrics_admins ON public.client_metrics FOR SELECT TO authenticated
    USING ((SELECT public.is_admin()));
CREATE POLICY error_events_admins ON public.error_events FOR SELECT TO authenticated
    USING ((SELECT public.is_admin()));

REVOKE ALL ON public.rpc_observations, public.usage_events, public.client_metrics, public.error_events
    FROM PUBLIC, anon, authenticated;
GRANT SELECT ON public.rpc_observations, public.usage_events, public.client_metrics, public.error_events TO authenticated;
GRANT SELECT, INSERT ON public.rpc_observations, public.usage_events, public.client_metrics, public.error_events TO service_role;
GRANT USAGE ON SEQUENCE public.rpc_observations_id_seq, public.usage_events_id_seq, public.client_metrics_id_seq,
    public.error_events_id_seq TO service_role;

-- Operator-tunable limits of what clients may send (internal.settings is shared by every instance).
INSERT INTO internal.settings (name, value) VALUES
    ('telemetry_allow_anonymous', 'false'),     -- usage events and client metrics from signed-out visitors
    ('telemetry_calls_per_minute', '120'),      -- per user; one call carries up to 100 events
    ('telemetry_anon_calls_per_minute', '6000') -- all anonymous visitors together
ON CONFLICT (name) DO NOTHING;

CREATE FUNCTION internal.setting(p_name text, p_default text) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT coalesce((SELECT value FROM internal.settings WHERE name = p_name), p_default)
$$;

-- Admits one telemetry call of `p_user` (null: anonymous) into the budget named `p_kind`, or
-- raises: 42501 for anonymous callers when they are not allowed, PT429 over the limit.
CREATE FUNCTION internal.admit_telemetry(p_user uuid, p_kind text) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF p_user IS NULL THEN
        IF internal.setting('telemetry_allow_anonymous', 'false') <> 'true' THEN
            RAISE EXCEPTION 'sign in to send %', p_kind USING ERRCODE = '42501';
        END IF;
        IF NOT internal.check_rate_limit(p_kind || ':anon',
                internal.setting('telemetry_anon_calls_per_minute', '6000')::int, 60) THEN
            RAISE EXCEPTION 'too many % calls from anonymous visitors; retry in a minute', p_kind USING ERRCODE = 'PT429';
        END IF;
    ELSIF NOT internal.check_rate_limit(p_kind || ':' || p_user,
            internal.setting('telemetry_calls_per_minute', '120')::int, 60) THEN
        RAISE EXCEPTION 'too many % calls; retry in a minute', p_kind
            USING ERRCODE = 'PT429', HINT = 'batch events: one call carries up to 100';
    END IF;
END
$$;

-- Validates a batch argument: a JSON array of 1 to 100 objects, at most 64 KB in all.
CREATE FUNCTION internal.check_batch(p_batch jsonb, p_what text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = ''
AS $$
BEGIN
    IF p_batch IS NULL OR jsonb_typeof(p_batch) <> 'array' OR jsonb_array_length(p_batch) NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION '% must be a JSON array of 1 to 100 objects', p_what USING ERRCODE = '22023';
    END IF;
    IF octet_length(p_batch::text) > 65536 THEN
        RAISE EXCEPTION '% is larger than 64 KB', p_what USING ERRCODE = '22023';
    END IF;
END
$$;

-- One usage event's fields, checked: a lower-case dotted name of at most 64 characters, props a
-- JSON object of at most 4 KB, a session id of at most 128 characters. `p_at` names the event
-- in a batch's error message.
CREATE FUNCTION internal.check_usage_event(p_event text, p_props jsonb, p_session_id text, p_at text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = ''
AS $$
BEGIN
    IF p_event IS NULL OR p_event !~ '^[a-z][a-z0-9_.:-]{0,63}$' THEN
        RAISE EXCEPTION '%: the event name must match ^[a-z][a-z0-9_.:-]{0,63}$', p_at USING ERRCODE = '22023';
    END IF;
    IF p_props IS NOT NULL AND jsonb_typeof(p_props) <> 'object' THEN
        RAISE EXCEPTION '%: props must be a JSON object', p_at USING ERRCODE = '22023';
    END IF;
    IF octet_length(coalesce(p_props, '{}')::text) > 4096 THEN
        RAISE EXCEPTION '%: props are larger than 4 KB', p_at USING ERRCODE = '22023';
    END IF;
    IF char_length(p_session_id) > 128 THEN
        RAISE EXCEPTION '%: session_id is longer than 128 characters', p_at USING ERRCODE = '22023';
    END IF;
END
$$;

-- Records one event of the signed-in user. The user comes from the JWT, never from an argument.
CREATE FUNCTION public.log_usage_event_v2(
    p_event text,
    p_props jsonb DEFAULT '{}',
    p_session_id text DEFAULT NULL,
    p_client_ts timestamptz DEFAULT NULL
) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_me uuid := auth.uid();
BEGIN
    PERFORM internal.check_usage_event(p_event, p_props, p_session_id, 'event');
    PERFORM internal.admit_telemetry(v_me, 'usage_events');
    INSERT INTO public.usage_events (user_id, event, props, session_id, client_ts)
    VALUES (v_me, p_event, coalesce(p_props, '{}'), p_session_id, p_client_ts);
END
$$;

-- A client tracker's flush: up to 100 events `{event, props, session_id, client_ts}` in one call,
-- all stored or none. Answers how many were stored.
CREATE FUNCTION public.log_usage_events(p_events jsonb) RETURNS int
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_me uuid := auth.uid();
    v_event record;
    v_count int;
BEGIN
    PERFORM internal.check_batch(p_events, 'p_events');
    FOR v_event IN SELECT value, ordinality FROM jsonb_array_elements(p_events) WITH ORDINALITY LOOP
        IF jsonb_typeof(v_event.value) <> 'object' THEN
            RAISE EXCEPTION 'event %: must be a JSON object', v_event.ordinality USING ERRCODE = '22023';
        END IF;
        PERFORM internal.check_usage_event(
            v_event.value->>'event', v_event.value->'props', v_event.value->>'session_id', 'event ' || v_event.ordinality);
    END LOOP;
    PERFORM internal.admit_telemetry(v_me, 'usage_events');
    INSERT INTO public.usage_events (user_id, event, props, session_id, client_ts)
    SELECT v_me, e->>'event', coalesce(e->'props', '{}'), e->>'session_id', (e->>'client_ts')::timestamptz
    FROM jsonb_array_elements(p_events) e;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
EXCEPTION
    WHEN invalid_datetime_format OR datetime_field_overflow THEN
        RAISE EXCEPTION 'client_ts must be an ISO 8601 timestamp' USING ERRCODE = '22023';
END
$$;

-- Client-side measurements (page load, feed render time…): up to 100 `{name, value, unit, tags}`.
-- The server also folds accepted batches into the histograms it serves on /metrics.
CREATE FUNCTION public.track_metrics(p_metrics jsonb) RETURNS int
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_me uuid := auth.uid();
    v_metric record;
    v_count int;
BEGIN
    PERFORM internal.check_batch(p_metrics, 'p_metrics');
    FOR v_metric IN SELECT value AS m, ordinality AS i FROM jsonb_array_elements(p_metrics) WITH ORDINALITY LOOP
        IF jsonb_typeof(v_metric.m) <> 'object'
           OR coalesce(v_metric.m->>'name', '') !~ '^[a-z][a-z0-9_]{0,63}$' THEN
            RAISE EXCEPTION 'metric %: name must match ^[a-z][a-z0-9_]{0,63}$', v_metric.i USING ERRCODE = '22023';
        END IF;
        IF jsonb_typeof(v_metric.m->'value') IS DISTINCT FROM 'number'
           OR abs((v_metric.m->>'value')::float8) > 1e12 THEN
            RAISE EXCEPTION 'metric %: value must be a number of magnitude at most 1e12', v_metric.i USING ERRCODE = '22023';
        END IF;
        IF coalesce(v_metric.m->>'unit', '') NOT IN ('', 'ms', 's', 'bytes', 'count', 'percent', 'ratio') THEN
            RAISE EXCEPTION 'metric %: unit must be one of ms, s, bytes, count, percent, ratio', v_metric.i USING ERRCODE = '22023';
        END IF;
        IF v_metric.m ? 'tags' AND (jsonb_typeof(v_metric.m->'tags') <> 'object'
           OR octet_length((v_metric.m->'tags')::text) > 1024
           OR EXISTS (SELECT 1 FROM jsonb_each(v_metric.m->'tags') t WHERE jsonb_typeof(t.value) <> 'string')) THEN
            RAISE EXCEPTION 'metric %: tags must be an object of strings, at most 1 KB', v_metric.i USING ERRCODE = '22023';
        END IF;
    END LOOP;
    PERFORM internal.admit_telemetry(v_me, 'metrics');
    INSERT INTO public.client_metrics (user_id, name, value, unit, tags)
    SELECT v_me, m->>'name', (m->>'value')::float8, coalesce(m->>'unit', ''), coalesce(m->'tags', '{}')
    FROM jsonb_array_elements(p_metrics) m;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;

REVOKE ALL ON FUNCTION internal.setting(text, text), internal.admit_telemetry(uuid, text),
    internal.check_batch(jsonb, text), internal.check_usage_event(text, jsonb, text, text) FROM PUBLIC, anon, authenticated, service_role;
REVOKE ALL ON FUNCTION public.log_usage_event_v2(text, jsonb, text, timestamptz), public.log_usage_events(jsonb),
    public.track_metrics(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.log_usage_event_v2(text, jsonb, text, timestamptz), public.log_usage_events(jsonb),
    public.track_metrics(jsonb) TO anon, authenticated, service_role;

-- When maintenance last ran and what it did (feedfusion verify reads it).
CREATE TABLE internal.maintenance_runs (
    id bigserial PRIMARY KEY,
    ran_at timestamptz NOT NULL,
    result jsonb NOT NULL
);
ALTER TABLE internal.maintenance_runs ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON internal.maintenance_runs FROM PUBLIC, anon, authenticated, service_role;

-- Partitions ahead and retention, for every partitioned telemetry table. `p_now` is the clock
-- (tests move it). One instance at a time: the others find the advisory lock taken and skip.
-- Retention drops every partition that lies wholly before the cutoff and deletes only the expired
-- rows of the oldest one that remains. Answers what it did.
CREATE FUNCTION internal.telemetry_maintenance(
    p_now timestamptz DEFAULT now(),
    p_usage_days int DEFAULT 30,
    p_observation_days int DEFAULT 14,
    p_metric_days int DEFAULT 14,
    p_error_days int DEFAULT 30,
    p_months_ahead int DEFAULT 2
) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = ''
AS $$
DECLARE
    v_table record;
    v_month timestamptz;
    v_name text;
    v_child record;
    v_cutoff timestamptz;
    v_deleted bigint;
    v_created text[] := '{}';
    v_dropped text[] := '{}';
    v_trimmed jsonb := '{}';
    v_result jsonb;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('feedfusion.telemetry_maintenance')) THEN
        RETURN jsonb_build_object('ran', false, 'reason', 'another instance is running maintenance');
    END IF;
    IF p_months_ahead NOT BETWEEN 0 AND 24 OR least(p_usage_days, p_observation_days, p_metric_days, p_error_days) < 1 THEN
        RAISE EXCEPTION 'retention must be at least one day and months ahead 0 to 24' USING ERRCODE = '22023';
    END IF;
    FOR v_table IN SELECT * FROM (VALUES
        ('usage_events', p_usage_days), ('rpc_observations', p_observation_days), ('client_metrics', p_metric_days)
    ) AS t(name, days) LOOP
        -- Months are UTC months whatever the session's time zone.
        FOR i IN 0..p_months_ahead LOOP
            v_month := (date_trunc('month', p_now AT TIME ZONE 'UTC') + make_interval(months => i)) AT TIME ZONE 'UTC';
            v_name := v_table.name || '_p' || to_char(v_month AT TIME ZONE 'UTC', 'YYYYMM');
            IF to_regclass('internal.' || v_name) IS NULL THEN
                EXECUTE format('CREATE TABLE internal.%I PARTITION OF public.%I FOR VALUES FROM (%L) TO (%L)',
                    v_name, v_table.name, v_month, v_month + interval '1 month');
                -- Reached only through the parent (whose policies apply); direct access finds nothing.
                EXECUTE format('ALTER TABLE internal.%I ENABLE ROW LEVEL SECURITY', v_name);
                EXECUTE format('ALTER TABLE internal.%I FORCE ROW LEVEL SECURITY', v_name);
                EXECUTE format('REVOKE ALL ON internal.%I FROM PUBLIC', v_name);
                v_created := v_created || v_name;
            END IF;
        END LOOP;
        v_cutoff := p_now - make_interval(days => v_table.days);
        FOR v_child IN
            SELECT c.relname::text AS name, to_date(substring(c.relname FROM '_p(\d{6})$'), 'YYYYMM') AS month
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = ('public.' || v_table.name)::regclass AND c.relname ~ '_p\d{6}$'
            ORDER BY 2
        LOOP
            v_month := v_child.month::timestamp AT TIME ZONE 'UTC';
            IF v_month + interval '1 month' <= v_cutoff THEN
                EXECUTE format('DROP TABLE internal.%I', v_child.name);
                v_dropped := v_dropped || v_child.name;
            ELSIF v_month < v_cutoff THEN
                EXECUTE format('DELETE FROM internal.%I WHERE created_at < %L', v_child.name, v_cutoff);
                GET DIAGNOSTICS v_deleted = ROW_COUNT;
                v_trimmed := v_trimmed || jsonb_build_object(v_child.name, v_deleted);
            END IF;
        END LOOP;
    END LOOP;
    DELETE FROM public.error_events WHERE created_at < p_now - make_interval(days => p_error_days);
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    v_result := jsonb_build_object('ran', true, 'created', to_jsonb(v_created), 'dropped', to_jsonb(v_dropped),
        'trimmed', v_trimmed, 'error_events_deleted', v_deleted);
    INSERT INTO internal.maintenance_runs (ran_at, result) VALUES (clock_timestamp(), v_result);
    DELETE FROM internal.maintenance_runs WHERE ran_at < clock_timestamp() - interval '30 days';
    RETURN v_result;
END
$$;
REVOKE ALL ON FUNCTION internal.telemetry_maintenance(timestamptz, int, int, int, int, int) FROM PUBLIC, anon, authenticated, service_role;

-- This month and the next two exist from the start.
SELECT internal.telemetry_maintenance();
