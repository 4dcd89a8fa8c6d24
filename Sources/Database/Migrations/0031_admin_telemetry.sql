-- The dashboard's telemetry explorer (issue 20): usage events counted by day and event name, and
-- client metrics' percentiles by name. The events themselves are read (and exported as CSV) through
-- /rest/v1/usage_events, whose policy lets admins read every row. Both scans are bounded by a day
-- range over tables partitioned by day and indexed by event and time.

CREATE FUNCTION public.admin_usage_summary(p_days integer, p_event text) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    PERFORM internal.require_admin('read usage telemetry');
    IF p_days IS NULL OR p_days NOT BETWEEN 1 AND 90 THEN
        RAISE EXCEPTION 'p_days must be 1 to 90' USING ERRCODE = '22023';
    END IF;
    RETURN jsonb_build_object(
        'events', coalesce((
            SELECT jsonb_agg(jsonb_build_object('event', event, 'count', n, 'users', users) ORDER BY n DESC, event)
            FROM (SELECT event, count(*) AS n, count(DISTINCT user_id) AS users FROM public.usage_events
                  WHERE created_at > now() - make_interval(days => p_days) GROUP BY event ORDER BY count(*) DESC LIMIT 200) e), '[]'::jsonb),
        'days', coalesce((
            SELECT jsonb_agg(jsonb_build_object('day', to_char(day, 'YYYY-MM-DD'), 'count', n, 'users', users) ORDER BY day)
            FROM (SELECT date_trunc('day', created_at AT TIME ZONE 'UTC') AS day, count(*) AS n, count(DISTINCT user_id) AS users
                  FROM public.usage_events
                  WHERE created_at > now() - make_interval(days => p_days) AND (p_event IS NULL OR event = p_event)
                  GROUP BY 1) d), '[]'::jsonb));
END
$$;

CREATE FUNCTION public.admin_client_metrics(p_hours integer) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    PERFORM internal.require_admin('read client metrics');
    IF p_hours IS NULL OR p_hours NOT BETWEEN 1 AND 720 THEN
        RAISE EXCEPTION 'p_hours must be 1 to 720' USING ERRCODE = '22023';
    END IF;
    RETURN coalesce((
        SELECT jsonb_agg(jsonb_build_object('name', name, 'unit', unit, 'count', n, 'p50', p50, 'p95', p95, 'p99', p99) ORDER BY name, unit)
        FROM (SELECT name, unit, count(*) AS n,
                     percentile_cont(0.5) WITHIN GROUP (ORDER BY value) AS p50,
                     percentile_cont(0.95) WITHIN GROUP (ORDER BY value) AS p95,
                     percentile_cont(0.99) WITHIN GROUP (ORDER BY value) AS p99
              FROM public.client_metrics WHERE created_at > now() - make_interval(hours => p_hours)
              GROUP BY name, unit) m), '[]'::jsonb);
END
$$;

REVOKE ALL ON FUNCTION public.admin_usage_summary(integer, text), public.admin_client_metrics(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.admin_usage_summary(integer, text), public.admin_client_metrics(integer) TO anon, authenticated, service_role;
