-- The dashboard's Errors module (issue 20): error_events grouped by fingerprint, with counts,
-- first and last seen and the latest occurrence's context, and a group's recent occurrences.
-- error_events is written sampled and kept by the telemetry retention, so these scans are bounded.

CREATE FUNCTION public.admin_error_groups(p_days integer, p_limit integer) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    PERFORM internal.require_admin('read errors');
    IF p_days IS NULL OR p_days NOT BETWEEN 1 AND 90 OR p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'p_days must be 1 to 90 and p_limit 1 to 200' USING ERRCODE = '22023';
    END IF;
    RETURN coalesce((
        SELECT jsonb_agg(jsonb_build_object(
            'fingerprint', g.fingerprint, 'count', g.n, 'first_seen', g.first_seen, 'last_seen', g.last_seen, 'users', g.users,
            'error_type', l.error_type, 'message', l.message, 'route', l.route, 'method', l.method, 'status', l.status,
            'request_id', l.request_id, 'context', l.context) ORDER BY g.last_seen DESC)
        FROM (
            SELECT e.fingerprint, count(*) AS n, min(e.created_at) AS first_seen, max(e.created_at) AS last_seen,
                   count(DISTINCT e.user_id) AS users
            FROM public.error_events e
            WHERE e.created_at > now() - make_interval(days => p_days)
            GROUP BY e.fingerprint
            ORDER BY max(e.created_at) DESC
            LIMIT p_limit) g
        CROSS JOIN LATERAL (
            SELECT * FROM public.error_events x WHERE x.fingerprint = g.fingerprint ORDER BY x.created_at DESC LIMIT 1) l), '[]'::jsonb);
END
$$;

CREATE FUNCTION public.admin_error_events(p_fingerprint text, p_limit integer) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    PERFORM internal.require_admin('read errors');
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'p_limit must be 1 to 100' USING ERRCODE = '22023';
    END IF;
    RETURN coalesce((
        SELECT jsonb_agg(jsonb_build_object(
            'id', e.id, 'created_at', e.created_at, 'error_type', e.error_type, 'message', e.message, 'route', e.route,
            'method', e.method, 'role', e.role, 'user_id', e.user_id, 'status', e.status, 'request_id', e.request_id,
            'context', e.context) ORDER BY e.created_at DESC)
        FROM (SELECT * FROM public.error_events WHERE fingerprint = p_fingerprint ORDER BY created_at DESC LIMIT p_limit) e), '[]'::jsonb);
END
$$;

REVOKE ALL ON FUNCTION public.admin_error_groups(integer, integer), public.admin_error_events(text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.admin_error_groups(integer, integer), public.admin_error_events(text, integer)
    TO anon, authenticated, service_role;
