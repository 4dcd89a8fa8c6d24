-- Fan-out on write, cheaper again (issue 19: the live home feed waits on it): internal.home_fanout
-- with the same answer as 0022 (DatabaseTests/HomeFanoutTests compares it with the policies on random
-- worlds), reworked so that the per-viewer part is a few index probes instead of whole arrays.
--
-- 0022 spent ~55 ms on a post with 1,000 live or cached followers, ~36 µs a viewer: for each it
-- built the viewer's block partners and blockers as arrays, fetched the viewer's whole followed
-- array (one row, but hundreds of ids), computed the reasons twice (the CTE was inlined into both
-- the filter and the row), and rebuilt the post's location, cursor and target list each time.
-- Here:
-- * the reasons come from the same index scans that find the viewers (each scan is a reason:
--   the author is `self`, an accepted follower of the author is `following`, a follower of a
--   targeted entity is `entity`, a mentioned profile is `mention`), aggregated once per viewer;
-- * "follows the author" is the `following` reason itself; blocks between viewer and author are
--   two probes of the blocks keys; admin is one probe of auth.users;
-- * what is the same for every viewer (the post, its author's profile, location, cursor, and its
--   target list when it mentions nobody) is computed once.

CREATE OR REPLACE FUNCTION internal.home_fanout(p_post uuid, p_viewers uuid[]) RETURNS TABLE (viewer uuid, item text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
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
       OR v.admin
$$;
REVOKE ALL ON FUNCTION internal.home_fanout(uuid, uuid[]) FROM PUBLIC;

