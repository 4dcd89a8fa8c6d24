-- Issue 18: a follow or an unfollow corrects the follower's cached home window instead of dropping it
-- (Mastodon's FeedManager#merge_into_home / #unmerge_from_home).
--
-- Until now a follow announced `viewers` with the follower, and every page of theirs was dropped:
-- the home window (60 rows) was recomputed on their next read, the largest item in PostgreSQL's time
-- at 1,000 virtual users (3 % of the mix follows or unfollows). Now a follow announces what changed
-- — who follows which profile or entity, and how — and the server asks `internal.home_merge` for the
-- rows it must put in, change or take out of that viewer's window.

CREATE OR REPLACE FUNCTION internal.announce_viewers() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    viewers uuid[];
    f public.follows;
BEGIN
    IF TG_TABLE_NAME = 'follows' THEN
        -- The followed profile sees nothing new: whose posts it sees depends on whom it follows.
        f := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
        PERFORM pg_notify('feedfusion_cache', json_build_object(
            't', 'follow', 'u', f.follower_id, 'a', f.followed_profile_id,
            'e', CASE WHEN f.followed_entity_id IS NULL THEN '{}'::uuid[] ELSE ARRAY[f.followed_entity_id] END,
            'op', TG_OP)::text);
        RETURN NULL;
    END IF;
    viewers := ARRAY[
        (CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END).blocker_id,
        (CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END).blocked_id];
    PERFORM pg_notify('feedfusion_cache', json_build_object('t', 'viewers', 'v', viewers)::text);
    RETURN NULL;
END
$$;

-- The fan-out's row for a few viewers costs a few index probes each: a follow's merge asks it for up
-- to 60 posts of one author for one viewer, and finding that viewer among an author's 6,000 followers
-- by hash (as a post's fan-out to hundreds of cached homes does best) cost ~2.8 ms a post on the seed.
-- The same answer either way (HomeFanoutTests asks for every viewer at once and for each alone).
CREATE OR REPLACE FUNCTION internal.home_fanout(p_post uuid, p_viewers uuid[]) RETURNS TABLE (viewer uuid, item text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    -- PL/pgSQL keeps the plan per connection (the listener's connection lives long): as a SQL
    -- function it was planned again on every call, ~3 ms of a 0.7 ms answer. Generic: the array's
    -- size is only known when it runs, and the branch is chosen then (the One-Time Filters above).
    SET search_path = '' SET plan_cache_mode = force_generic_plan
AS $fn$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    WITH post AS MATERIALIZED (
        SELECT p.id AS post_id, p.author_id, p.body, p.visibility, p.created_at, p.like_count, p.author_private,
            CASE WHEN p.location IS NOT NULL THEN pg_catalog.jsonb_build_object(
                'lat', extensions.st_y(p.location::extensions.geometry),
                'lng', extensions.st_x(p.location::extensions.geometry)) END AS location,
            internal.encode_cursor(p.created_at, p.id) AS cursor,
            a.id AS profile_id, a.username, a.display_name, a.avatar_url, a.is_private AS author_is_private,
            EXISTS (SELECT 1 FROM public.post_targets t WHERE t.post_id = p.id AND t.target_profile_id IS NOT NULL) AS mentions,
            -- The target list as everyone sees it when it names no profile (whose visibility varies).
            coalesce((
                SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                    'kind', CASE WHEN t.target_entity_id IS NOT NULL THEN 'entity' ELSE 'profile' END,
                    'id', coalesce(t.target_entity_id, t.target_profile_id),
                    'name', e.name) ORDER BY t.id)
                FROM public.post_targets t LEFT JOIN public.entities e ON e.id = t.target_entity_id
                WHERE t.post_id = p.id), '[]'::jsonb) AS entity_targets
        FROM public.posts p
        LEFT JOIN public.profiles a ON a.id = p.author_id
        WHERE p.id = p_post
    ),
    related AS (
        -- Each way a viewer can have the post in their home is one of the home feed's sources.
        -- Many viewers (a post's fan-out to the cached homes): found from the post's side, its
        -- author's and targeted places' followers by index, joined to the viewers by hash.
        SELECT c.id, c.reason
        FROM post p
        CROSS JOIN LATERAL (
            SELECT p.author_id AS id, 'self' AS reason
            UNION ALL SELECT f.follower_id, 'following' FROM public.follows f
                WHERE f.followed_profile_id = p.author_id AND f.status = 'accepted'
            UNION ALL SELECT f.follower_id, 'entity' FROM public.post_targets t
                JOIN public.follows f ON f.followed_entity_id = t.target_entity_id
                WHERE t.post_id = p.post_id AND t.target_entity_id IS NOT NULL
            UNION ALL SELECT t.target_profile_id, 'mention' FROM public.post_targets t
                WHERE t.post_id = p.post_id AND t.target_profile_id IS NOT NULL
        ) c
        JOIN unnest(p_viewers) AS v(id) ON v.id = c.id
        WHERE pg_catalog.cardinality(p_viewers) > 8
        UNION ALL
        -- A few viewers (a follow's merge, a report, one live home): each viewer's own keys probed,
        -- so that a post of an author with thousands of followers does not read them all.
        SELECT v.id, c.reason
        FROM post p
        CROSS JOIN unnest(p_viewers) AS v(id)
        CROSS JOIN LATERAL (
            SELECT 'self' AS reason WHERE p.author_id = v.id
            UNION ALL SELECT 'following' FROM public.follows f
                WHERE f.follower_id = v.id AND f.followed_profile_id = p.author_id AND f.status = 'accepted'
            UNION ALL SELECT 'entity' FROM public.post_targets t
                JOIN public.follows f ON f.follower_id = v.id AND f.followed_entity_id = t.target_entity_id
                WHERE t.post_id = p.post_id AND t.target_entity_id IS NOT NULL
            UNION ALL SELECT 'mention' FROM public.post_targets t
                WHERE t.post_id = p.post_id AND t.target_profile_id = v.id
        ) c
        WHERE pg_catalog.cardinality(p_viewers) <= 8
    ),
    candidate AS (
        SELECT r.id,
            pg_catalog.array_agg(DISTINCT r.reason ORDER BY r.reason) AS reasons,
            bool_or(r.reason = 'following') AS follows_author
        FROM related r
        GROUP BY r.id
    ),
    viewer AS (
        -- What the policies read through viewer_block_partners(), viewer_blocked_by(),
        -- viewer_followed_profiles() and is_admin(), for this viewer and this author only.
        SELECT c.id, c.reasons, c.follows_author, p.*,
            EXISTS (SELECT 1 FROM public.blocks b WHERE b.blocker_id = p.author_id AND b.blocked_id = c.id) AS blocked_by_author,
            EXISTS (SELECT 1 FROM public.blocks b WHERE b.blocker_id = c.id AND b.blocked_id = p.author_id) AS blocks_author,
            EXISTS (SELECT 1 FROM auth.users u
                    WHERE u.id = c.id
                      AND (u.raw_app_meta_data ->> 'role' = 'admin' OR coalesce(u.raw_app_meta_data -> 'roles', '[]'::jsonb) ? 'admin')
                      AND (u.banned_until IS NULL OR u.banned_until <= now())) AS admin
        FROM candidate c CROSS JOIN post p
    )
    SELECT v.id, pg_catalog.to_json(ROW(
        v.post_id,
        -- profiles_read for the author (a hidden author shows as an id without a name).
        CASE WHEN v.profile_id IS NOT NULL
                  AND (v.author_id = v.id OR v.admin OR (NOT v.blocked_by_author AND (NOT v.author_is_private OR v.follows_author)))
             THEN pg_catalog.jsonb_build_object('id', v.author_id, 'username', v.username, 'display_name', v.display_name, 'avatar_url', v.avatar_url)
             ELSE pg_catalog.jsonb_build_object('id', v.author_id, 'username', NULL, 'display_name', NULL, 'avatar_url', NULL) END,
        v.body,
        v.visibility,
        v.created_at,
        v.location,
        CASE WHEN NOT v.mentions THEN v.entity_targets ELSE coalesce((
            -- post_targets_read: a mention shows only when the mentioned profile is visible (profiles_read).
            SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                'kind', CASE WHEN t.target_entity_id IS NOT NULL THEN 'entity' ELSE 'profile' END,
                'id', coalesce(t.target_entity_id, t.target_profile_id),
                'name', coalesce(e.name, tp.username)) ORDER BY t.id)
            FROM public.post_targets t
            LEFT JOIN public.entities e ON e.id = t.target_entity_id
            LEFT JOIN public.profiles tp ON tp.id = t.target_profile_id
            WHERE t.post_id = v.post_id
              AND (t.target_profile_id IS NULL OR t.target_profile_id = v.id OR v.admin
                   OR (NOT EXISTS (SELECT 1 FROM public.blocks b WHERE b.blocker_id = tp.id AND b.blocked_id = v.id)
                       AND (NOT tp.is_private
                            OR EXISTS (SELECT 1 FROM public.follows f WHERE f.follower_id = v.id
                                       AND f.followed_profile_id = tp.id AND f.status = 'accepted'))))), '[]'::jsonb) END,
        v.reasons,
        v.like_count,
        v.cursor,
        EXISTS (SELECT 1 FROM public.post_likes l WHERE l.post_id = v.post_id AND l.profile_id = v.id)
    )::public.feed_item)::text
    FROM viewer v
    -- posts_read for this viewer.
    WHERE v.author_id = v.id
       OR (NOT v.blocked_by_author AND NOT v.blocks_author
           AND ((v.visibility = 'public' AND NOT v.author_private)
                OR (v.visibility <> 'private' AND v.follows_author)))
       OR v.admin;
END
$fn$;
REVOKE ALL ON FUNCTION internal.home_fanout(uuid, uuid[]) FROM PUBLIC;

-- The posts whose row in `p_viewer`'s home a follow or unfollow of `p_profile` (or of `p_entity`)
-- may have changed, within a cached window: the subject's newest `p_limit` posts above the window's
-- last row (`p_below`, its cursor; NULL when the window holds the whole feed), and the window's own
-- posts (`p_window`) that are the subject's. For each: the row as the viewer's home now shows it
-- (`internal.home_fanout`, held to the policies by HomeFanoutTests), or NULL when it no longer
-- belongs there. The window's other rows cannot have changed: every source of a home row but this
-- follow is as it was.
CREATE OR REPLACE FUNCTION internal.home_merge(
    p_viewer uuid, p_profile uuid, p_entity uuid, p_below text, p_window uuid[], p_limit integer
) RETURNS TABLE (post uuid, item text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = '' SET plan_cache_mode = force_generic_plan
AS $fn$
#variable_conflict use_column
DECLARE
    -- Nothing below: the window holds the whole feed. Plain values, so that the keyset bound is an
    -- index condition (a row built in the query was a filter over all of an author's posts).
    v_below_at timestamptz := '-infinity';
    v_below_id uuid := '00000000-0000-0000-0000-000000000000';
BEGIN
    IF p_below IS NOT NULL THEN
        SELECT c.created_at, c.id INTO v_below_at, v_below_id FROM internal.decode_cursor(p_below) c;
    END IF;
    RETURN QUERY
    WITH candidate AS (
        (SELECT p.id FROM public.posts p
         WHERE p_profile IS NOT NULL AND p.author_id = p_profile AND (p.created_at, p.id) > (v_below_at, v_below_id)
         ORDER BY p.created_at DESC, p.id DESC
         LIMIT p_limit)
        UNION
        (SELECT t.post_id FROM public.post_targets t
         WHERE p_entity IS NOT NULL AND t.target_entity_id = p_entity
           AND (t.post_created_at, t.post_id) > (v_below_at, v_below_id)
         ORDER BY t.post_created_at DESC, t.post_id DESC
         LIMIT p_limit)
        UNION
        SELECT p.id FROM public.posts p
        WHERE p.id = ANY (p_window)
          AND (p.author_id = p_profile
               OR EXISTS (SELECT 1 FROM public.post_targets t WHERE t.post_id = p.id AND t.target_entity_id = p_entity))
    )
    SELECT c.id, f.item
    FROM candidate c
    LEFT JOIN LATERAL internal.home_fanout(c.id, ARRAY[p_viewer]) f ON true;
END
$fn$;
REVOKE ALL ON FUNCTION internal.home_merge(uuid, uuid, uuid, text, uuid[], integer) FROM PUBLIC;
