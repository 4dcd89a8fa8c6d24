-- The feeds: RPCs the client calls through /rest/v1/rpc. SECURITY INVOKER, so the posts policy
-- (0008) decides visibility exactly as for the tables; the functions only choose candidates.
--
-- Every feed is keyset-paginated on (created_at, id), newest first: each source is an index range
-- scan that starts below the cursor and stops after p_limit rows, so page 50 costs what page 1
-- costs. No OFFSET anywhere.

-- One row of any feed (and of create_post).
CREATE TYPE public.feed_item AS (
    id uuid,
    author jsonb,
    body text,
    visibility text,
    created_at timestamptz,
    location jsonb,
    targets jsonb,
    reasons text[],
    like_count integer,
    cursor text
);

-- A candidate a feed has chosen, with why.
CREATE TYPE internal.feed_candidate AS (id uuid, created_at timestamptz, reasons text[]);

-- p_limit: 1 to 100, 20 when null. Anything else is the caller's mistake (HTTP 400).
CREATE FUNCTION internal.feed_limit(p_limit int) RETURNS int
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = ''
AS $$
BEGIN
    IF p_limit IS NULL THEN
        RETURN 20;
    END IF;
    IF p_limit < 1 OR p_limit > 100 THEN
        RAISE EXCEPTION 'p_limit must be between 1 and 100 (got %)', p_limit USING ERRCODE = '22023';
    END IF;
    RETURN p_limit;
END
$$;

-- The cursor is opaque to clients: base64url of "<microseconds since epoch>~<post id>".
-- No SET search_path (names are pg_catalog-qualified instead) so that it inlines into the query.
CREATE FUNCTION internal.encode_cursor(p_created_at timestamptz, p_id uuid) RETURNS text
    LANGUAGE sql IMMUTABLE
AS $$
    SELECT pg_catalog.translate(
        pg_catalog.encode(pg_catalog.convert_to(
            (EXTRACT(epoch FROM p_created_at) * 1000000)::bigint::text || '~' || p_id::text, 'UTF8'), 'base64'),
        E'+/=\n', '-_')
$$;

-- The keyset position below which a page starts: the top of the feed for a null cursor, HTTP 400
-- for anything that is not a cursor this server produced.
CREATE FUNCTION internal.decode_cursor(p_cursor text, OUT created_at timestamptz, OUT id uuid)
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = ''
AS $$
DECLARE
    v_text text;
BEGIN
    IF p_cursor IS NULL OR p_cursor = '' THEN
        created_at := 'infinity';
        id := 'ffffffff-ffff-ffff-ffff-ffffffffffff';
        RETURN;
    END IF;
    BEGIN
        IF length(p_cursor) > 200 OR p_cursor !~ '^[A-Za-z0-9_-]+$' THEN
            RAISE EXCEPTION 'not base64url';
        END IF;
        v_text := convert_from(decode(rpad(translate(p_cursor, '-_', '+/'), (length(p_cursor) + 3) / 4 * 4, '='), 'base64'), 'UTF8');
        IF v_text !~ '^-?[0-9]{1,19}~[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
            RAISE EXCEPTION 'not a cursor';
        END IF;
        created_at := to_timestamp(0) + split_part(v_text, '~', 1)::bigint * interval '1 microsecond';
        id := split_part(v_text, '~', 2)::uuid;
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION 'invalid cursor' USING ERRCODE = '22023',
            HINT = 'pass the cursor of the last row of the previous page, unchanged';
    END;
END
$$;

-- The feed rows for chosen candidates, newest first. INVOKER: posts, profiles and targets are
-- read under the caller's policies (a candidate the caller may not see simply drops out).
CREATE FUNCTION internal.feed_rows(p_candidates internal.feed_candidate[]) RETURNS SETOF public.feed_item
    LANGUAGE plpgsql STABLE
    SET search_path = ''
AS $$
BEGIN
    RETURN QUERY
    SELECT p.id,
        jsonb_build_object('id', p.author_id, 'username', a.username, 'display_name', a.display_name, 'avatar_url', a.avatar_url),
        p.body,
        p.visibility,
        p.created_at,
        CASE WHEN p.location IS NOT NULL THEN jsonb_build_object(
            'lat', extensions.st_y(p.location::extensions.geometry),
            'lng', extensions.st_x(p.location::extensions.geometry)) END,
        coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                'kind', CASE WHEN t.target_entity_id IS NOT NULL THEN 'entity' ELSE 'profile' END,
                'id', coalesce(t.target_entity_id, t.target_profile_id),
                'name', coalesce(e.name, tp.username)) ORDER BY t.id)
            FROM public.post_targets t
            LEFT JOIN public.entities e ON e.id = t.target_entity_id
            LEFT JOIN public.profiles tp ON tp.id = t.target_profile_id
            WHERE t.post_id = p.id), '[]'::jsonb),
        c.reasons,
        p.like_count,
        internal.encode_cursor(p.created_at, p.id)
    FROM unnest(p_candidates) AS c
    JOIN public.posts p ON p.id = c.id
    LEFT JOIN public.profiles a ON a.id = p.author_id
    ORDER BY p.created_at DESC, p.id DESC;
END
$$;

-- Home: the caller's own posts, posts of profiles they follow, posts targeting entities they
-- follow and posts targeting them, fused: one row per post with every reason, newest first.
--
-- Plan (checked with EXPLAIN (ANALYZE, BUFFERS) on the seeded data set, see README "Feeds"):
-- each source yields at most p_limit candidates below the cursor, each from an index range scan
-- in (created_at, id) order that stops early:
--   self      posts_author_created_idx, one range
--   following few follows: one range per followed profile (LATERAL … LIMIT), merged and cut;
--             many follows: the newest posts overall (posts_created_idx) filtered by an array
--             membership test, which finds p_limit matches quickly precisely because the caller
--             follows many authors. The switch is at 100 follows, where both cost about the same
--             (100 × p_limit index probes against p_limit × total/followed rows scanned).
--   entity    post_targets_entity_time_idx, one range per followed entity (LATERAL … LIMIT)
--   mention   post_targets_profile_time_idx, one range
-- The union of at most 4 × p_limit candidates is grouped by post, sorted and cut to p_limit;
-- only those rows are then built (author, targets) by feed_rows. Visibility is the posts policy,
-- applied inside each source so that a hidden post never takes a visible one's place.
-- The newest posts (below the cursor) of the profiles in p_authors, at most p_limit.
CREATE FUNCTION internal.posts_by_authors(p_authors uuid[], p_at timestamptz, p_id uuid, p_limit int)
    RETURNS TABLE (id uuid, created_at timestamptz)
    LANGUAGE plpgsql STABLE
    SET search_path = ''
AS $$
BEGIN
    IF cardinality(p_authors) <= 100 THEN
        RETURN QUERY SELECT f.id, f.created_at FROM unnest(p_authors) AS a(author_id)
            CROSS JOIN LATERAL (
                SELECT p.id, p.created_at FROM public.posts p
                WHERE p.author_id = a.author_id AND (p.created_at, p.id) < (p_at, p_id)
                ORDER BY p.created_at DESC, p.id DESC LIMIT p_limit) f
            ORDER BY f.created_at DESC, f.id DESC LIMIT p_limit;
    ELSE
        RETURN QUERY SELECT p.id, p.created_at FROM public.posts p
            WHERE p.author_id = ANY (p_authors) AND (p.created_at, p.id) < (p_at, p_id)
            ORDER BY p.created_at DESC, p.id DESC LIMIT p_limit;
    END IF;
END
$$;

CREATE FUNCTION public.feed_fusion_home(p_limit int DEFAULT 20, p_cursor text DEFAULT NULL) RETURNS SETOF public.feed_item
    LANGUAGE plpgsql STABLE
    SET search_path = ''
AS $$
DECLARE
    v_me uuid := auth.uid();
    v_limit int := internal.feed_limit(p_limit);
    v_at timestamptz;
    v_id uuid;
BEGIN
    IF v_me IS NULL THEN
        RAISE EXCEPTION 'sign in to read your home feed' USING ERRCODE = '42501';
    END IF;
    SELECT c.created_at, c.id INTO v_at, v_id FROM internal.decode_cursor(p_cursor) c;
    RETURN QUERY SELECT * FROM internal.feed_rows(ARRAY(
        SELECT ROW(u.id, max(u.created_at), array_agg(DISTINCT u.reason ORDER BY u.reason))::internal.feed_candidate
        FROM (
            (SELECT p.id, p.created_at, 'self' AS reason FROM public.posts p
             WHERE p.author_id = v_me AND (p.created_at, p.id) < (v_at, v_id)
             ORDER BY p.created_at DESC, p.id DESC LIMIT v_limit)
            UNION ALL
            SELECT f.id, f.created_at, 'following'
            FROM internal.posts_by_authors(internal.viewer_followed_profiles(), v_at, v_id, v_limit) f
            UNION ALL
            -- A post targeting two followed entities is one candidate (grouped before the limit).
            (SELECT t.post_id, t.post_created_at, 'entity' FROM public.follows fe
             CROSS JOIN LATERAL (
                 SELECT pt.post_id, pt.post_created_at FROM public.post_targets pt
                 WHERE pt.target_entity_id = fe.followed_entity_id AND (pt.post_created_at, pt.post_id) < (v_at, v_id)
                 ORDER BY pt.post_created_at DESC, pt.post_id DESC LIMIT v_limit) t
             WHERE fe.follower_id = v_me AND fe.followed_entity_id IS NOT NULL
             GROUP BY t.post_id, t.post_created_at
             ORDER BY t.post_created_at DESC, t.post_id DESC LIMIT v_limit)
            UNION ALL
            (SELECT pt.post_id, pt.post_created_at, 'mention' FROM public.post_targets pt
             WHERE pt.target_profile_id = v_me AND (pt.post_created_at, pt.post_id) < (v_at, v_id)
             ORDER BY pt.post_created_at DESC, pt.post_id DESC LIMIT v_limit)
        ) u
        GROUP BY u.id
        ORDER BY max(u.created_at) DESC, u.id DESC
        LIMIT v_limit));
END
$$;

-- One profile's posts as the caller may see them (anon: the public ones of a public profile).
CREATE FUNCTION public.feed_fusion_profile(p_profile_id uuid, p_limit int DEFAULT 20, p_cursor text DEFAULT NULL)
    RETURNS SETOF public.feed_item
    LANGUAGE plpgsql STABLE
    SET search_path = ''
AS $$
DECLARE
    v_me uuid := auth.uid();
    v_limit int := internal.feed_limit(p_limit);
    v_at timestamptz;
    v_id uuid;
    v_reasons text[];
BEGIN
    SELECT c.created_at, c.id INTO v_at, v_id FROM internal.decode_cursor(p_cursor) c;
    v_reasons := CASE
        WHEN v_me = p_profile_id THEN ARRAY['self']
        WHEN p_profile_id = ANY (internal.viewer_followed_profiles()) THEN ARRAY['following']
        ELSE '{}'::text[] END;
    RETURN QUERY SELECT * FROM internal.feed_rows(ARRAY(
        SELECT ROW(p.id, p.created_at, v_reasons)::internal.feed_candidate FROM public.posts p
        WHERE p.author_id = p_profile_id AND (p.created_at, p.id) < (v_at, v_id)
        ORDER BY p.created_at DESC, p.id DESC LIMIT v_limit));
END
$$;

-- Posts that target an entity, newest first.
CREATE FUNCTION public.feed_fusion_entity(p_entity_id uuid, p_limit int DEFAULT 20, p_cursor text DEFAULT NULL)
    RETURNS SETOF public.feed_item
    LANGUAGE plpgsql STABLE
    SET search_path = ''
AS $$
DECLARE
    v_limit int := internal.feed_limit(p_limit);
    v_at timestamptz;
    v_id uuid;
BEGIN
    SELECT c.created_at, c.id INTO v_at, v_id FROM internal.decode_cursor(p_cursor) c;
    RETURN QUERY SELECT * FROM internal.feed_rows(ARRAY(
        SELECT ROW(pt.post_id, pt.post_created_at, ARRAY['entity'])::internal.feed_candidate FROM public.post_targets pt
        WHERE pt.target_entity_id = p_entity_id AND (pt.post_created_at, pt.post_id) < (v_at, v_id)
        ORDER BY pt.post_created_at DESC, pt.post_id DESC LIMIT v_limit));
END
$$;

-- The newest located posts within p_radius_m of a point, below the keyset position, ignoring
-- visibility: SECURITY DEFINER because under RLS PostgreSQL may not use the spatial index (ST_DWithin
-- is not leakproof, so it is only evaluated after the policy, on every located post: seconds on the
-- seeded set). It answers ids and times only, to feed_fusion_nearby, which reads the posts themselves
-- under the caller's policies. (`internal` is not exposed through the API.)
CREATE FUNCTION internal.located_post_candidates(
    p_point extensions.geography, p_radius_m int, p_at timestamptz, p_id uuid, p_limit int)
    RETURNS TABLE (id uuid, created_at timestamptz)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    -- Ordered by distance in time from a far future instant, which the (location, created_at)
    -- GiST index returns directly: newest first.
    RETURN QUERY SELECT p.id, p.created_at FROM public.posts p
        WHERE p.location IS NOT NULL AND extensions.st_dwithin(p.location, p_point, p_radius_m)
          AND (p.created_at, p.id) < (p_at, p_id)
        ORDER BY p.created_at OPERATOR(extensions.<->) '3000-01-01 00:00:00+00'::timestamptz
        LIMIT p_limit;
END
$$;

-- Visible posts within p_radius_m metres of a point, by their own location or their target
-- entity's, newest first. Distances are on the spheroid (geography), so the antimeridian and the
-- poles need no special cases.
CREATE FUNCTION public.feed_fusion_nearby(
    p_lat float8, p_lng float8, p_radius_m int DEFAULT 5000, p_limit int DEFAULT 20, p_cursor text DEFAULT NULL)
    RETURNS SETOF public.feed_item
    LANGUAGE plpgsql STABLE
    SET search_path = ''
AS $$
DECLARE
    v_limit int := internal.feed_limit(p_limit);
    v_at timestamptz;
    v_id uuid;
    v_point extensions.geography;
    v_batch int;
    v_batch_at timestamptz;
    v_batch_id uuid;
    v_found int;
    v_ids uuid[];
    v_times timestamptz[];
    v_last timestamptz;
    v_visible internal.feed_candidate[] := '{}';
BEGIN
    IF p_lat IS NULL OR p_lng IS NULL OR p_lat NOT BETWEEN -90 AND 90 OR p_lng NOT BETWEEN -180 AND 180 THEN
        RAISE EXCEPTION 'p_lat must be between -90 and 90 and p_lng between -180 and 180' USING ERRCODE = '22023';
    END IF;
    IF p_radius_m IS NULL OR p_radius_m < 1 OR p_radius_m > 50000 THEN
        RAISE EXCEPTION 'p_radius_m must be between 1 and 50000 metres (got %)', p_radius_m USING ERRCODE = '22023';
    END IF;
    SELECT c.created_at, c.id INTO v_at, v_id FROM internal.decode_cursor(p_cursor) c;
    v_point := extensions.st_setsrid(extensions.st_makepoint(p_lng, p_lat), 4326)::extensions.geography;

    -- Located posts: candidates newest first in growing batches, kept when the caller may see
    -- them (the posts policy), until a page is full or the candidates run out.
    v_batch_at := v_at;
    v_batch_id := v_id;
    v_batch := v_limit * 2;
    LOOP
        SELECT coalesce(array_agg(c.id ORDER BY c.created_at DESC), '{}'), coalesce(array_agg(c.created_at ORDER BY c.created_at DESC), '{}')
        INTO v_ids, v_times
        FROM internal.located_post_candidates(v_point, p_radius_m, v_batch_at, v_batch_id, v_batch) c;
        v_found := cardinality(v_ids);
        v_last := v_times[v_found];
        -- Posts at the batch's oldest instant may continue past the batch: leave them to the next
        -- one unless the batch is the last (or made of that one instant only).
        v_visible := v_visible || ARRAY(
            SELECT ROW(p.id, p.created_at, ARRAY['nearby'])::internal.feed_candidate
            FROM unnest(v_ids, v_times) AS b(id, created_at) JOIN public.posts p ON p.id = b.id
            WHERE v_found < v_batch OR b.created_at > v_last OR v_times[1] = v_last);
        EXIT WHEN v_found < v_batch OR cardinality(v_visible) >= v_limit OR v_times[1] = v_last;
        v_batch_at := v_last;
        v_batch_id := 'ffffffff-ffff-ffff-ffff-ffffffffffff';
        v_batch := least(v_batch * 2, 5000);
    END LOOP;

    RETURN QUERY SELECT * FROM internal.feed_rows(ARRAY(
        SELECT ROW(u.id, max(u.created_at), ARRAY['nearby'])::internal.feed_candidate FROM (
            SELECT v.id, v.created_at FROM unnest(v_visible) v
            UNION ALL
            (SELECT t.post_id, t.post_created_at FROM public.entities e
             CROSS JOIN LATERAL (
                 SELECT pt.post_id, pt.post_created_at FROM public.post_targets pt
                 WHERE pt.target_entity_id = e.id AND (pt.post_created_at, pt.post_id) < (v_at, v_id)
                 ORDER BY pt.post_created_at DESC, pt.post_id DESC LIMIT v_limit) t
             WHERE e.location IS NOT NULL AND extensions.st_dwithin(e.location, v_point, p_radius_m)
             GROUP BY t.post_id, t.post_created_at
             ORDER BY t.post_created_at DESC, t.post_id DESC LIMIT v_limit)
        ) u
        GROUP BY u.id
        ORDER BY max(u.created_at) DESC, u.id DESC
        LIMIT v_limit));
END
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA internal FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA internal TO anon, authenticated, service_role;
GRANT USAGE ON TYPE public.feed_item TO anon, authenticated, service_role;
