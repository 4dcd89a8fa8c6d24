-- Cached feeds are dropped when a committed write can change them. Triggers announce what changed
-- on the channel `feedfusion_cache` (NOTIFY is delivered at commit, and not at all on rollback);
-- every server instance listens and works out which cached answers to drop. Payloads are small
-- JSON objects (a post has at most 10 targets), far below NOTIFY's 8000-byte limit.
-- The functions are definers: they must see a post's targets whoever wrote it.

CREATE FUNCTION internal.announce_post() RETURNS trigger
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
        't', 'post', 'a', post.author_id, 'e', entity_ids, 'p', profile_ids, 'loc', located)::text);
    RETURN NULL;
END
$$;
-- Every column of a post shows in feed rows (like_count included), so any real change counts.
CREATE TRIGGER posts_announce AFTER INSERT OR DELETE ON public.posts
    FOR EACH ROW EXECUTE FUNCTION internal.announce_post();
CREATE TRIGGER posts_announce_update AFTER UPDATE ON public.posts
    FOR EACH ROW WHEN (OLD IS DISTINCT FROM NEW) EXECUTE FUNCTION internal.announce_post();

CREATE FUNCTION internal.announce_post_target() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    target public.post_targets := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
BEGIN
    PERFORM pg_notify('feedfusion_cache', json_build_object(
        't', 'target', 'a', target.post_author_id,
        'e', CASE WHEN target.target_entity_id IS NULL THEN '{}'::uuid[] ELSE ARRAY[target.target_entity_id] END,
        'p', CASE WHEN target.target_profile_id IS NULL THEN '{}'::uuid[] ELSE ARRAY[target.target_profile_id] END,
        'loc', EXISTS (SELECT 1 FROM public.posts p WHERE p.id = target.post_id AND p.location IS NOT NULL)
            OR EXISTS (SELECT 1 FROM public.entities e WHERE e.id = target.target_entity_id AND e.location IS NOT NULL)
    )::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER post_targets_announce AFTER INSERT OR DELETE ON public.post_targets
    FOR EACH ROW EXECUTE FUNCTION internal.announce_post_target();

-- Follows and blocks change what both people see (visibility, block filters, home sources).
CREATE FUNCTION internal.announce_viewers() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    viewers uuid[];
BEGIN
    IF TG_TABLE_NAME = 'follows' THEN
        viewers := array_remove(ARRAY[
            (CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END).follower_id,
            (CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END).followed_profile_id], NULL);
    ELSE
        viewers := ARRAY[
            (CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END).blocker_id,
            (CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END).blocked_id];
    END IF;
    PERFORM pg_notify('feedfusion_cache', json_build_object('t', 'viewers', 'v', viewers)::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER follows_announce AFTER INSERT OR UPDATE OR DELETE ON public.follows
    FOR EACH ROW EXECUTE FUNCTION internal.announce_viewers();
CREATE TRIGGER blocks_announce AFTER INSERT OR DELETE ON public.blocks
    FOR EACH ROW EXECUTE FUNCTION internal.announce_viewers();

-- A profile's name, avatar or privacy shows in (or decides) every feed row of its posts.
CREATE FUNCTION internal.announce_profile() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    PERFORM pg_notify('feedfusion_cache', json_build_object('t', 'profile', 'a', NEW.id)::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER profiles_announce AFTER UPDATE ON public.profiles
    FOR EACH ROW WHEN (OLD.username IS DISTINCT FROM NEW.username OR OLD.display_name IS DISTINCT FROM NEW.display_name
        OR OLD.avatar_url IS DISTINCT FROM NEW.avatar_url OR OLD.is_private IS DISTINCT FROM NEW.is_private)
    EXECUTE FUNCTION internal.announce_profile();

-- Rare, broad changes: an entity renamed or moved, a table emptied.
CREATE FUNCTION internal.announce_all() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    PERFORM pg_notify('feedfusion_cache', '{"t":"all"}');
    RETURN NULL;
END
$$;
CREATE TRIGGER entities_announce AFTER UPDATE OR DELETE ON public.entities
    FOR EACH STATEMENT EXECUTE FUNCTION internal.announce_all();
CREATE TRIGGER posts_truncate_announce AFTER TRUNCATE ON public.posts
    FOR EACH STATEMENT EXECUTE FUNCTION internal.announce_all();
CREATE TRIGGER follows_truncate_announce AFTER TRUNCATE ON public.follows
    FOR EACH STATEMENT EXECUTE FUNCTION internal.announce_all();
CREATE TRIGGER blocks_truncate_announce AFTER TRUNCATE ON public.blocks
    FOR EACH STATEMENT EXECUTE FUNCTION internal.announce_all();

REVOKE ALL ON FUNCTION internal.announce_post(), internal.announce_post_target(), internal.announce_viewers(),
    internal.announce_profile(), internal.announce_all() FROM PUBLIC;
