-- Fan-out on write, cheaper (issue 18): internal.home_fanout's candidate cut starts from the post
-- (its author's and targeted entities' followers, its mentions) instead of probing every cached
-- viewer. Same answer (DatabaseTests/HomeFanoutTests compares it with the policies on random worlds);
-- the rest of the function is 0021's.

CREATE OR REPLACE FUNCTION internal.home_fanout(p_post uuid, p_viewers uuid[]) RETURNS TABLE (viewer uuid, item text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    WITH candidate AS (
        -- Only viewers related to the post can have it in their home (the cheap cut; the reasons
        -- below decide): its author, followers of the author or of a targeted entity, and the
        -- mentioned. Found from the post's side (index scans of the author's and entities'
        -- followers) and matched against the cached viewers by a hash join: in 0021 each cached
        -- viewer was probed three times per post, ~25 ms a post with 1,000 cached homes.
        SELECT DISTINCT c.id
        FROM public.posts p
        CROSS JOIN LATERAL (
            SELECT p.author_id AS id
            UNION ALL SELECT f.follower_id FROM public.follows f WHERE f.followed_profile_id = p.author_id
            UNION ALL SELECT f.follower_id FROM public.post_targets t
                JOIN public.follows f ON f.followed_entity_id = t.target_entity_id
                WHERE t.post_id = p.id AND t.target_entity_id IS NOT NULL
            UNION ALL SELECT t.target_profile_id FROM public.post_targets t
                WHERE t.post_id = p.id AND t.target_profile_id IS NOT NULL
        ) c
        JOIN unnest(p_viewers) AS v(id) ON v.id = c.id
        WHERE p.id = p_post
    ),
    viewer AS (
        -- What the policies read through viewer_block_partners(), viewer_blocked_by(),
        -- viewer_followed_profiles() and is_admin(), for each viewer instead of auth.uid().
        SELECT v.id,
            ARRAY(SELECT b.blocked_id FROM public.blocks b WHERE b.blocker_id = v.id
                  UNION SELECT b.blocker_id FROM public.blocks b WHERE b.blocked_id = v.id) AS partners,
            ARRAY(SELECT b.blocker_id FROM public.blocks b WHERE b.blocked_id = v.id) AS blocked_by,
            coalesce((SELECT f.profiles FROM internal.followed_profiles f WHERE f.user_id = v.id), '{}'::uuid[]) AS followed,
            EXISTS (SELECT 1 FROM auth.users u
                    WHERE u.id = v.id
                      AND (u.raw_app_meta_data ->> 'role' = 'admin' OR coalesce(u.raw_app_meta_data -> 'roles', '[]'::jsonb) ? 'admin')
                      AND (u.banned_until IS NULL OR u.banned_until <= now())) AS admin
        FROM candidate v
    ),
    seen AS (
        -- posts_read for each viewer.
        SELECT v.*, p.id AS post_id, p.author_id, p.body, p.visibility, p.created_at, p.location, p.like_count
        FROM viewer v CROSS JOIN public.posts p
        WHERE p.id = p_post
          AND (p.author_id = v.id
               OR (p.author_id <> ALL (v.partners)
                   AND ((p.visibility = 'public' AND NOT p.author_private)
                        OR (p.visibility <> 'private' AND p.author_id = ANY (v.followed))))
               OR v.admin)
    ),
    reasoned AS (
        -- The home feed's four sources, as feed_fusion_home reads them.
        SELECT s.*, ARRAY(
            SELECT r FROM (
                SELECT 'entity' AS r WHERE EXISTS (
                    SELECT 1 FROM public.follows fe JOIN public.post_targets t ON t.target_entity_id = fe.followed_entity_id
                    WHERE fe.follower_id = s.id AND t.post_id = s.post_id)
                UNION ALL SELECT 'following' WHERE s.author_id = ANY (s.followed)
                UNION ALL SELECT 'mention' WHERE EXISTS (
                    SELECT 1 FROM public.post_targets t WHERE t.post_id = s.post_id AND t.target_profile_id = s.id)
                UNION ALL SELECT 'self' WHERE s.author_id = s.id
            ) x ORDER BY r) AS reasons
        FROM seen s
    )
    SELECT r.id, pg_catalog.to_json(ROW(
        r.post_id,
        -- profiles_read for the author (a hidden author shows as an id without a name).
        pg_catalog.jsonb_build_object('id', r.author_id, 'username', a.username, 'display_name', a.display_name, 'avatar_url', a.avatar_url),
        r.body,
        r.visibility,
        r.created_at,
        CASE WHEN r.location IS NOT NULL THEN pg_catalog.jsonb_build_object(
            'lat', extensions.st_y(r.location::extensions.geometry),
            'lng', extensions.st_x(r.location::extensions.geometry)) END,
        -- post_targets_read: a mention shows only when the mentioned profile is visible (profiles_read).
        coalesce((
            SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                'kind', CASE WHEN t.target_entity_id IS NOT NULL THEN 'entity' ELSE 'profile' END,
                'id', coalesce(t.target_entity_id, t.target_profile_id),
                'name', coalesce(e.name, tp.username)) ORDER BY t.id)
            FROM public.post_targets t
            LEFT JOIN public.entities e ON e.id = t.target_entity_id
            LEFT JOIN public.profiles tp ON tp.id = t.target_profile_id
            WHERE t.post_id = r.post_id
              AND (t.target_profile_id IS NULL OR t.target_profile_id = r.id OR r.admin
                   OR (tp.id <> ALL (r.blocked_by) AND (NOT tp.is_private OR tp.id = ANY (r.followed))))), '[]'::jsonb),
        r.reasons,
        r.like_count,
        internal.encode_cursor(r.created_at, r.post_id),
        EXISTS (SELECT 1 FROM public.post_likes l WHERE l.post_id = r.post_id AND l.profile_id = r.id)
    )::public.feed_item)::text
    FROM reasoned r
    LEFT JOIN public.profiles a ON a.id = r.author_id
        AND (a.id = r.id OR r.admin OR (a.id <> ALL (r.blocked_by) AND (NOT a.is_private OR a.id = ANY (r.followed))))
    WHERE cardinality(r.reasons) > 0
$$;
