-- Home timelines by fan-out on write (issue 18). A new post no longer drops the cached first page
-- of every follower's home: the server asks, in one query per post, which of the viewers whose home
-- it holds now see the post in their home and as what row, and puts that row at the top of their
-- page (Mastodon's FeedManager#push, onto the page cache instead of a Redis list).
--
-- 1. internal.home_fanout(post, viewers): for each viewer whose home feed now contains the post,
--    the row exactly as feed_fusion_home would answer it to that viewer. It is SECURITY DEFINER (one
--    set-based query for hundreds of viewers, instead of one query under each viewer's role), so it
--    spells out the policies of posts, profiles, post_targets and post_likes for an explicit viewer.
--    That is a second copy of a security rule; DatabaseTests/HomeFanoutTests compares it with the
--    policies themselves on random worlds (every post, every viewer, blocks, private profiles,
--    followers-only and private posts, admins, mentions), so the copies cannot drift apart unseen.
-- 2. A post's announcement says which post and operation, and when it was created.
-- 3. A follow changes what the follower sees, not what the followed sees: only the follower is
--    announced (a block still announces both, as it hides each from the other).

CREATE FUNCTION internal.home_fanout(p_post uuid, p_viewers uuid[]) RETURNS TABLE (viewer uuid, item text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    WITH candidate AS (
        -- Only viewers related to the post can have it in their home (the cheap cut, by index;
        -- the reasons below decide): its author, followers of the author or of a targeted entity,
        -- and the mentioned.
        SELECT v.id FROM unnest(p_viewers) AS v(id), public.posts p
        WHERE p.id = p_post
          AND (v.id = p.author_id
               OR EXISTS (SELECT 1 FROM public.follows f WHERE f.follower_id = v.id AND f.followed_profile_id = p.author_id)
               OR EXISTS (SELECT 1 FROM public.post_targets t JOIN public.follows f ON f.followed_entity_id = t.target_entity_id
                          WHERE t.post_id = p.id AND f.follower_id = v.id)
               OR EXISTS (SELECT 1 FROM public.post_targets t WHERE t.post_id = p.id AND t.target_profile_id = v.id))
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
-- Only the server's owner connection calls it: it answers for any viewer.
REVOKE ALL ON FUNCTION internal.home_fanout(uuid, uuid[]) FROM PUBLIC;

CREATE OR REPLACE FUNCTION internal.announce_post() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    post public.posts := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    entity_ids uuid[];
    profile_ids uuid[];
    located boolean;
BEGIN
    SELECT coalesce(array_agg(t.target_entity_id) FILTER (WHERE t.target_entity_id IS NOT NULL), '{}'),
           coalesce(array_agg(t.target_profile_id) FILTER (WHERE t.target_profile_id IS NOT NULL), '{}'),
           coalesce(bool_or(e.location IS NOT NULL), false)
    INTO entity_ids, profile_ids, located
    FROM public.post_targets t LEFT JOIN public.entities e ON e.id = t.target_entity_id
    WHERE t.post_id = post.id;
    located := located OR post.location IS NOT NULL OR (TG_OP = 'UPDATE' AND OLD.location IS NOT NULL);
    PERFORM pg_notify('feedfusion_cache', json_build_object(
        't', 'post', 'a', post.author_id, 'e', entity_ids, 'p', profile_ids, 'loc', located,
        'id', post.id, 'op', TG_OP, 'at', (EXTRACT(epoch FROM post.created_at) * 1000000)::bigint)::text);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION internal.announce_post_target() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    target public.post_targets := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
BEGIN
    PERFORM pg_notify('feedfusion_cache', json_build_object(
        't', 'target', 'a', target.post_author_id, 'id', target.post_id, 'op', TG_OP,
        'e', CASE WHEN target.target_entity_id IS NULL THEN '{}'::uuid[] ELSE ARRAY[target.target_entity_id] END,
        'p', CASE WHEN target.target_profile_id IS NULL THEN '{}'::uuid[] ELSE ARRAY[target.target_profile_id] END,
        'loc', EXISTS (SELECT 1 FROM public.posts p WHERE p.id = target.post_id AND p.location IS NOT NULL)
            OR EXISTS (SELECT 1 FROM public.entities e WHERE e.id = target.target_entity_id AND e.location IS NOT NULL)
    )::text);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION internal.announce_viewers() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    viewers uuid[];
BEGIN
    IF TG_TABLE_NAME = 'follows' THEN
        -- The followed profile sees nothing new: whose posts it sees depends on whom it follows.
        viewers := ARRAY[(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END).follower_id];
    ELSE
        viewers := ARRAY[
            (CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END).blocker_id,
            (CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END).blocked_id];
    END IF;
    PERFORM pg_notify('feedfusion_cache', json_build_object('t', 'viewers', 'v', viewers)::text);
    RETURN NULL;
END
$$;
