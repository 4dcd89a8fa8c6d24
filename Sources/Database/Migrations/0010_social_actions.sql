-- Writes the app makes through /rest/v1/rpc, next to the same writes through the tables. All run
-- as the caller (SECURITY INVOKER) so that the table policies decide, except the limiter and the
-- admin functions, which are SECURITY DEFINER with a fixed search_path.

-- A database-side limiter: fixed windows counted in one atomic upsert, so it holds under
-- concurrency and across any number of server instances. UNLOGGED: counters need not survive a
-- crash, and skipping the WAL keeps them cheap.
CREATE UNLOGGED TABLE internal.rate_limit_counters (
    key text NOT NULL,
    window_start timestamptz NOT NULL,
    hits integer NOT NULL,
    PRIMARY KEY (key, window_start)
);
-- RLS on without a policy, and no grants: only the definer function below, running as the
-- table's owner, reads and writes it.
ALTER TABLE internal.rate_limit_counters ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON internal.rate_limit_counters FROM PUBLIC, anon, authenticated, service_role;

-- Counts one hit for p_key and answers whether it is within p_max per p_window_seconds.
CREATE FUNCTION internal.check_rate_limit(p_key text, p_max int, p_window_seconds int) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_window timestamptz;
    v_hits int;
BEGIN
    IF p_key IS NULL OR length(p_key) > 200 OR p_max IS NULL OR p_max < 1
       OR p_window_seconds IS NULL OR p_window_seconds < 1 OR p_window_seconds > 86400 * 31 THEN
        RAISE EXCEPTION 'check_rate_limit needs a key (at most 200 characters), p_max >= 1 and a window of 1 s to 31 days'
            USING ERRCODE = '22023';
    END IF;
    v_window := to_timestamp(floor(extract(epoch FROM clock_timestamp()) / p_window_seconds) * p_window_seconds);
    INSERT INTO internal.rate_limit_counters AS c (key, window_start, hits) VALUES (p_key, v_window, 1)
    ON CONFLICT (key, window_start) DO UPDATE SET hits = c.hits + 1
    RETURNING hits INTO v_hits;
    -- Old windows go now and then, by whichever call comes by (about one in a thousand).
    IF random() < 0.001 THEN
        DELETE FROM internal.rate_limit_counters WHERE window_start < clock_timestamp() - interval '32 days'
            OR window_start < clock_timestamp() - make_interval(secs => p_window_seconds) AND key = p_key;
    END IF;
    RETURN v_hits <= p_max;
END
$$;

-- The public face of the limiter. Clients may only spend their own budget: for anyone but the
-- service role the key is prefixed with the caller's id (or 'anon').
CREATE FUNCTION public.check_rate_limit(p_key text, p_max int, p_window_seconds int) RETURNS boolean
    LANGUAGE sql VOLATILE
    SET search_path = ''
AS $$
    SELECT internal.check_rate_limit(
        CASE WHEN auth.role() = 'service_role' THEN p_key
             ELSE 'user:' || coalesce(auth.uid()::text, 'anon') || ':' || coalesce(p_key, '') END,
        p_max, p_window_seconds)
$$;

-- Operator-tunable limits, shared by every server instance (a table rather than a GUC, so that a
-- change takes effect on every pooled connection at once). Only the definer functions read it.
CREATE TABLE internal.settings (
    name text PRIMARY KEY,
    value text NOT NULL
);
ALTER TABLE internal.settings ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON internal.settings FROM PUBLIC, anon, authenticated, service_role;
INSERT INTO internal.settings (name, value) VALUES ('posts_per_hour', '30');

CREATE FUNCTION internal.posts_per_hour() RETURNS int
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT coalesce((SELECT value::int FROM internal.settings WHERE name = 'posts_per_hour'), 30)
$$;

-- Writes a post with its targets and answers it as a feed row. Targets must exist and be visible
-- to the author (at most 10); location is both coordinates or neither.
CREATE FUNCTION public.create_post(
    p_body text,
    p_visibility text DEFAULT 'public',
    p_target_entity_ids uuid[] DEFAULT '{}',
    p_target_profile_ids uuid[] DEFAULT '{}',
    p_lat float8 DEFAULT NULL,
    p_lng float8 DEFAULT NULL
) RETURNS public.feed_item
    LANGUAGE plpgsql VOLATILE
    SET search_path = ''
AS $$
DECLARE
    v_me uuid := auth.uid();
    v_entities uuid[] := ARRAY(SELECT DISTINCT x FROM unnest(coalesce(p_target_entity_ids, '{}')) x WHERE x IS NOT NULL);
    v_profiles uuid[] := ARRAY(SELECT DISTINCT x FROM unnest(coalesce(p_target_profile_ids, '{}')) x WHERE x IS NOT NULL);
    v_missing uuid;
    v_post uuid;
    v_item public.feed_item;
BEGIN
    IF v_me IS NULL THEN
        RAISE EXCEPTION 'sign in to post' USING ERRCODE = '42501';
    END IF;
    IF p_body IS NULL OR char_length(btrim(p_body)) = 0 OR char_length(p_body) > 2000 THEN
        RAISE EXCEPTION 'p_body must be 1 to 2000 characters' USING ERRCODE = '22023';
    END IF;
    IF p_visibility IS NULL OR p_visibility NOT IN ('public', 'followers', 'private') THEN
        RAISE EXCEPTION 'p_visibility must be public, followers or private' USING ERRCODE = '22023';
    END IF;
    IF cardinality(v_entities) + cardinality(v_profiles) > 10 THEN
        RAISE EXCEPTION 'a post has at most 10 targets' USING ERRCODE = '22023';
    END IF;
    IF (p_lat IS NULL) <> (p_lng IS NULL) OR p_lat NOT BETWEEN -90 AND 90 OR p_lng NOT BETWEEN -180 AND 180 THEN
        RAISE EXCEPTION 'p_lat (-90 to 90) and p_lng (-180 to 180) go together' USING ERRCODE = '22023';
    END IF;
    SELECT x INTO v_missing FROM unnest(v_entities) x WHERE NOT EXISTS (SELECT 1 FROM public.entities e WHERE e.id = x) LIMIT 1;
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION 'no entity %', v_missing USING ERRCODE = '22023';
    END IF;
    -- The profiles policy hides what the author may not see: such a target does not exist for them.
    SELECT x INTO v_missing FROM unnest(v_profiles) x WHERE NOT EXISTS (SELECT 1 FROM public.profiles pr WHERE pr.id = x) LIMIT 1;
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION 'no profile %', v_missing USING ERRCODE = '22023';
    END IF;
    IF NOT internal.check_rate_limit('create_post:' || v_me, internal.posts_per_hour(), 3600) THEN
        RAISE EXCEPTION 'too many posts: at most % per hour', internal.posts_per_hour() USING ERRCODE = 'PT429';
    END IF;

    INSERT INTO public.posts (author_id, body, visibility, location)
    VALUES (v_me, p_body, p_visibility,
        CASE WHEN p_lat IS NOT NULL THEN extensions.st_setsrid(extensions.st_makepoint(p_lng, p_lat), 4326)::extensions.geography END)
    RETURNING id INTO v_post;
    INSERT INTO public.post_targets (post_id, target_entity_id) SELECT v_post, x FROM unnest(v_entities) x;
    INSERT INTO public.post_targets (post_id, target_profile_id) SELECT v_post, x FROM unnest(v_profiles) x;

    SELECT * INTO v_item FROM internal.feed_rows(ARRAY[ROW(v_post, now(), ARRAY['self'])::internal.feed_candidate]);
    RETURN v_item;
END
$$;

-- Idempotent relationship writes. Each is one statement the table policies check.
CREATE FUNCTION internal.require_user(p_action text) RETURNS uuid
    LANGUAGE plpgsql STABLE
    SET search_path = ''
AS $$
BEGIN
    IF auth.uid() IS NULL THEN
        RAISE EXCEPTION 'sign in to %', p_action USING ERRCODE = '42501';
    END IF;
    RETURN auth.uid();
END
$$;

CREATE FUNCTION public.follow_entity(p_entity_id uuid) RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = ''
AS $$
    INSERT INTO public.follows (follower_id, followed_entity_id) VALUES (internal.require_user('follow'), p_entity_id)
    ON CONFLICT ON CONSTRAINT follows_entity_once DO NOTHING
$$;

CREATE FUNCTION public.unfollow_entity(p_entity_id uuid) RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = ''
AS $$
    DELETE FROM public.follows WHERE follower_id = internal.require_user('unfollow') AND followed_entity_id = p_entity_id
$$;

CREATE FUNCTION public.block_profile(p_profile_id uuid) RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = ''
AS $$
    INSERT INTO public.blocks (blocker_id, blocked_id) VALUES (internal.require_user('block'), p_profile_id)
    ON CONFLICT (blocker_id, blocked_id) DO NOTHING
$$;

CREATE FUNCTION public.unblock_profile(p_profile_id uuid) RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = ''
AS $$
    DELETE FROM public.blocks WHERE blocker_id = internal.require_user('unblock') AND blocked_id = p_profile_id
$$;

CREATE FUNCTION public.like_post(p_post_id uuid) RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = ''
AS $$
    INSERT INTO public.post_likes (post_id, profile_id) VALUES (p_post_id, internal.require_user('like'))
    ON CONFLICT (post_id, profile_id) DO NOTHING
$$;

CREATE FUNCTION public.unlike_post(p_post_id uuid) RETURNS void
    LANGUAGE sql VOLATILE
    SET search_path = ''
AS $$
    DELETE FROM public.post_likes WHERE post_id = p_post_id AND profile_id = internal.require_user('unlike')
$$;

-- Admin: ban a user until a time (null lifts the ban); same as admin_set_user_ban, named as the
-- dashboard calls it.
CREATE FUNCTION public.admin_ban_user(p_user_id uuid, p_until timestamptz) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF NOT public.is_admin() THEN
        RAISE EXCEPTION 'only admins may ban users' USING ERRCODE = '42501';
    END IF;
    RETURN public.admin_set_user_ban(p_user_id, p_until);
END
$$;

-- Admin: the dashboard's headline numbers. "Today" is since midnight UTC; an active user signed
-- in, posted or liked today.
CREATE FUNCTION public.admin_stats() RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_today timestamptz := date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
BEGIN
    IF NOT public.is_admin() THEN
        RAISE EXCEPTION 'only admins may read the statistics' USING ERRCODE = '42501';
    END IF;
    RETURN jsonb_build_object(
        'users', (SELECT count(*) FROM auth.users),
        'posts', (SELECT count(*) FROM public.posts),
        'posts_today', (SELECT count(*) FROM public.posts WHERE created_at >= v_today),
        'active_users_today', (SELECT count(*) FROM (
            SELECT id FROM auth.users WHERE last_sign_in_at >= v_today
            UNION SELECT author_id FROM public.posts WHERE created_at >= v_today
            UNION SELECT profile_id FROM public.post_likes WHERE created_at >= v_today) active));
END
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA internal FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA internal TO anon, authenticated, service_role;
REVOKE ALL ON FUNCTION public.admin_ban_user(uuid, timestamptz), public.admin_stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.admin_ban_user(uuid, timestamptz), public.admin_stats() TO anon, authenticated, service_role;
