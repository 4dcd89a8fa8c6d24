-- Nearby candidates for wide circles.
--
-- The (location, created_at) GiST index answers "newest posts in a circle" by walking it in time
-- order (KNN on created_at) restricted to the circle's box. For small circles that is a few pages;
-- for circles of 20–35 km around a seeded city it took 140 ms and more (measured, warm): the box
-- covers much of the city's part of the index, whose pages are grouped by place, not by time, so the
-- walk visits most of them before it can be sure of the newest.
--
-- When the circle holds a good share of all posts, reading the newest posts overall and keeping
-- those inside finds a page after a few hundred rows (about 1 ms). So wide circles try that first,
-- over at most 2,000 rows below the cursor: if a full page is inside, those are the newest posts in
-- the circle (every newer post was looked at). Otherwise — a wide circle over an empty place, or a
-- large batch — the index walk answers as before. The extra cost is bounded by the 2,000 rows.
CREATE OR REPLACE FUNCTION internal.located_post_candidates(
    p_point extensions.geography, p_radius_m int, p_at timestamptz, p_id uuid, p_limit int)
    RETURNS TABLE (id uuid, created_at timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_ids uuid[];
    v_times timestamptz[];
BEGIN
    IF p_radius_m > 10000 AND p_limit <= 200 THEN
        SELECT coalesce(array_agg(r.id), '{}'), coalesce(array_agg(r.created_at), '{}') INTO v_ids, v_times
        FROM (
            SELECT n.id, n.created_at FROM (
                SELECT p.id, p.created_at, p.location FROM public.posts p
                WHERE (p.created_at, p.id) < (p_at, p_id)
                ORDER BY p.created_at DESC, p.id DESC
                LIMIT 2000) n
            WHERE n.location IS NOT NULL AND extensions.st_dwithin(n.location, p_point, p_radius_m)
            LIMIT p_limit) r;
        IF cardinality(v_ids) = p_limit THEN
            RETURN QUERY SELECT c.id, c.created_at FROM unnest(v_ids, v_times) AS c(id, created_at);
            RETURN;
        END IF;
    END IF;
    -- Ordered by distance in time from a far future instant, which the (location, created_at)
    -- GiST index returns directly: newest first.
    RETURN QUERY SELECT p.id, p.created_at FROM public.posts p
        WHERE p.location IS NOT NULL AND extensions.st_dwithin(p.location, p_point, p_radius_m)
          AND (p.created_at, p.id) < (p_at, p_id)
        ORDER BY p.created_at OPERATOR(extensions.<->) '3000-01-01 00:00:00+00'::timestamptz
        LIMIT p_limit;
END
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA internal FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA internal TO anon, authenticated, service_role;
