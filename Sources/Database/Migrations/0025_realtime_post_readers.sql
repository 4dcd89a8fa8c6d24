-- Realtime postgres_changes on posts for many subscribers at once (issue 19). Reading a changed row
-- once per subscriber under RLS (realtime.visible_rows) costs ~1.5 ms each: 1,000 followers of an
-- author made one post take 1.5 s and capped delivery near 1,500 rows a second. For posts the
-- policy is known set-wise — the home fan-out (internal.home_fanout, 0022) evaluates it for many
-- viewers in one query — so the readers among all signed-in subscribers are found in one query,
-- and the row is attached only to them. The rule is posts_read's: the post's author; or, unless a
-- block stands between them, a public post of a public author or a non-private post of someone the
-- viewer follows; or an admin who is not banned. RealtimePostReadersTests checks it against RLS.
CREATE FUNCTION realtime.post_for_readers(p_post uuid, p_viewers uuid[]) RETURNS TABLE (viewer uuid, record jsonb)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    WITH viewer AS (
        SELECT v.id,
            ARRAY(SELECT b.blocked_id FROM public.blocks b WHERE b.blocker_id = v.id
                  UNION SELECT b.blocker_id FROM public.blocks b WHERE b.blocked_id = v.id) AS partners,
            coalesce((SELECT f.profiles FROM internal.followed_profiles f WHERE f.user_id = v.id), '{}'::uuid[]) AS followed,
            EXISTS (SELECT 1 FROM auth.users u
                    WHERE u.id = v.id
                      AND (u.raw_app_meta_data ->> 'role' = 'admin' OR coalesce(u.raw_app_meta_data -> 'roles', '[]'::jsonb) ? 'admin')
                      AND (u.banned_until IS NULL OR u.banned_until <= now())) AS admin
        FROM (SELECT DISTINCT unnest(p_viewers) AS id) v
    )
    SELECT v.id, to_jsonb(p)
    FROM viewer v CROSS JOIN public.posts p
    WHERE p.id = p_post
      AND (p.author_id = v.id
           OR (p.author_id <> ALL (v.partners)
               AND ((p.visibility = 'public' AND NOT p.author_private)
                    OR (p.visibility <> 'private' AND p.author_id = ANY (v.followed))))
           OR v.admin)
$$;
REVOKE ALL ON FUNCTION realtime.post_for_readers(uuid, uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION realtime.post_for_readers(uuid, uuid[]) TO authenticator;
