-- Counters live apart from the pages that show them (issue 18, as TAO keeps edge counts apart from
-- objects and lists): a like changes a number in place; it no longer drops every cached page that
-- shows the post (the author's profile, each follower's home, its entities, nearby).
--
-- 1. Feed rows gain liked_by_viewer: whether the caller has liked the post (a filled heart).
-- 2. A like announces {"t":"like"} with the post's new like_count and who liked or unliked; the
--    server patches both numbers into the pages it serves. The posts row trigger that announces a
--    changed post now ignores a change of like_count alone.

ALTER TYPE public.feed_item ADD ATTRIBUTE liked_by_viewer boolean;

-- As 0009, plus liked_by_viewer: one primary-key probe of post_likes per row, under its policy.
CREATE OR REPLACE FUNCTION internal.feed_rows(p_candidates internal.feed_candidate[]) RETURNS SETOF public.feed_item
    LANGUAGE plpgsql STABLE
    SET search_path = ''
AS $$
DECLARE
    v_me uuid := auth.uid();
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
        internal.encode_cursor(p.created_at, p.id),
        v_me IS NOT NULL AND EXISTS (SELECT 1 FROM public.post_likes l WHERE l.post_id = p.id AND l.profile_id = v_me)
    FROM unnest(p_candidates) AS c
    JOIN public.posts p ON p.id = c.id
    LEFT JOIN public.profiles a ON a.id = p.author_id
    ORDER BY p.created_at DESC, p.id DESC;
END
$$;

-- The count is kept as before; the new value is announced with who changed it. A like of a post
-- being deleted (the cascade) updates nothing and announces nothing: the post's own DELETE does.
CREATE OR REPLACE FUNCTION internal.post_likes_count() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_count int;
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE public.posts SET like_count = like_count + 1 WHERE id = NEW.post_id RETURNING like_count INTO v_count;
    ELSE
        UPDATE public.posts SET like_count = greatest(like_count - 1, 0) WHERE id = OLD.post_id RETURNING like_count INTO v_count;
    END IF;
    IF v_count IS NOT NULL THEN
        PERFORM pg_notify('feedfusion_cache', json_build_object(
            't', 'like', 'id', CASE WHEN TG_OP = 'INSERT' THEN NEW.post_id ELSE OLD.post_id END, 'n', v_count,
            'u', CASE WHEN TG_OP = 'INSERT' THEN NEW.profile_id ELSE OLD.profile_id END, 'l', TG_OP = 'INSERT')::text);
    END IF;
    RETURN NULL;
END
$$;

-- A post's other columns still announce the post (an edit, a visibility change); the counter alone not.
DROP TRIGGER posts_announce_update ON public.posts;
CREATE TRIGGER posts_announce_update AFTER UPDATE ON public.posts
    FOR EACH ROW WHEN ((pg_catalog.to_jsonb(OLD) - 'like_count') IS DISTINCT FROM (pg_catalog.to_jsonb(NEW) - 'like_count'))
    EXECUTE FUNCTION internal.announce_post();
