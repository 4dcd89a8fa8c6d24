-- Hardening (issue 17): every rule holds on every path, a client write invalidates no more than it
-- changed, likes and mentions keep a profile's privacy, and anon and authenticated may execute
-- exactly the functions their requests need.

-- 1. create_post's rules on every path ------------------------------------------------------------
-- A post's body has a character that is not white space, whoever writes it and however: the RPC,
-- a table insert or update, a bulk array. NOT VALID: rows written before are left alone (the
-- seed's bodies all qualify), every new or changed row is checked.
ALTER TABLE public.posts ADD CONSTRAINT posts_body_not_blank CHECK (body ~ '[^[:space:]]') NOT VALID;

-- The hourly cap counts every post a client writes, in the database, so that a table insert or a
-- bulk array of 2,000 rows is held to it as the RPC is. The operator's writes (service role, the
-- owner's maintenance and seeding) are not counted. SECURITY DEFINER to reach the counters;
-- current_setting('role') is still the caller's role there (SET ROLE, not the definer's).
CREATE FUNCTION internal.count_client_post() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF pg_catalog.current_setting('role') IN ('anon', 'authenticated')
       AND NOT internal.check_rate_limit('create_post:' || NEW.author_id, internal.posts_per_hour(), 3600) THEN
        RAISE EXCEPTION 'too many posts: at most % per hour', internal.posts_per_hour() USING ERRCODE = 'PT429';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER posts_count_client_post BEFORE INSERT ON public.posts
    FOR EACH ROW EXECUTE FUNCTION internal.count_client_post();

-- At most 10 targets per post, for everyone. Writers of one post's targets take turns (an advisory
-- lock per post), so two concurrent inserts of 6 cannot both see 4 and make 12; within one
-- statement each row sees the rows inserted before it.
CREATE FUNCTION internal.cap_post_targets() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('post_targets:' || NEW.post_id::text, 0));
    IF (SELECT count(*) FROM public.post_targets t WHERE t.post_id = NEW.post_id) >= 10 THEN
        RAISE EXCEPTION 'a post has at most 10 targets' USING ERRCODE = '22023';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER post_targets_cap BEFORE INSERT ON public.post_targets
    FOR EACH ROW EXECUTE FUNCTION internal.cap_post_targets();

-- The RPC keeps its early, specific errors; the cap itself is now the trigger's (it counted twice).
CREATE OR REPLACE FUNCTION public.create_post(
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
    IF p_body IS NULL OR p_body !~ '[^[:space:]]' OR char_length(p_body) > 2000 THEN
        RAISE EXCEPTION 'p_body must be 1 to 2000 characters, not all white space' USING ERRCODE = '22023';
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

-- 2. A client write invalidates only what it changed ---------------------------------------------
-- Entities announced a whole-cache flush per statement, even one that changed no row (a DELETE of
-- an id that does not exist). Now only rows that really went, or changed what a feed shows of them
-- (kind, name, place), announce it, and only then is the write fenced.
DROP TRIGGER entities_announce ON public.entities;
DROP TRIGGER entities_mark_announced ON public.entities;

CREATE FUNCTION internal.announce_entities() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF NOT EXISTS (SELECT 1 FROM old_rows) THEN
            RETURN NULL;
        END IF;
    ELSIF NOT EXISTS (
        SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE o.kind IS DISTINCT FROM n.kind OR o.name IS DISTINCT FROM n.name
           OR extensions.st_asbinary(o.location) IS DISTINCT FROM extensions.st_asbinary(n.location)) THEN
        RETURN NULL;
    END IF;
    PERFORM pg_catalog.pg_notify('feedfusion_cache', '{"t":"all"}');
    PERFORM pg_catalog.set_config('feedfusion.cache_announced', 'on', true);
    RETURN NULL;
END
$$;
CREATE TRIGGER entities_announce_update AFTER UPDATE ON public.entities
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION internal.announce_entities();
CREATE TRIGGER entities_announce_delete AFTER DELETE ON public.entities
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION internal.announce_entities();

-- 3. Likes and mentions keep the profile's privacy -----------------------------------------------
-- A like was visible whenever its post was: anyone listed what a private profile liked, and a
-- blocked user what the blocker liked. Now the liker must be a profile the viewer may see (the
-- profiles policy decides, through the sub-select), as the viewer's own likes always are.
DROP POLICY post_likes_read ON public.post_likes;
CREATE POLICY post_likes_read ON public.post_likes FOR SELECT TO anon, authenticated
    USING (
        profile_id = (SELECT auth.uid())
        OR (EXISTS (SELECT 1 FROM public.posts p WHERE p.id = post_id)
            AND EXISTS (SELECT 1 FROM public.profiles pr WHERE pr.id = profile_id))
        OR (SELECT public.is_admin())
    );

-- A target row showed the id of a mentioned private profile to everyone who could read the post.
-- The rule of 0015 for the post, and for a mentioned profile the profiles policy too (the mentioned
-- person always sees their mention).
DROP POLICY post_targets_read ON public.post_targets;
CREATE POLICY post_targets_read ON public.post_targets FOR SELECT TO anon, authenticated
    USING (
        (
            post_author_id = (SELECT auth.uid())
            OR (
                post_author_id <> ALL ((SELECT internal.viewer_block_partners())::uuid[])
                AND (
                    (post_visibility = 'public' AND NOT post_author_private)
                    OR (post_visibility <> 'private'
                        AND (SELECT internal.viewer_followed_profiles())[width_bucket(post_author_id, (SELECT internal.viewer_followed_profiles()))] = post_author_id)
                )
            )
        )
        AND (
            target_profile_id IS NULL
            OR target_profile_id = (SELECT auth.uid())
            OR EXISTS (SELECT 1 FROM public.profiles pr WHERE pr.id = target_profile_id)
        )
        OR (SELECT public.is_admin())
    );

-- 4. The database-side limiter: bounded inputs, and a table that does not grow --------------------
-- Each counter knows when its window ends, and expired counters are deleted a batch at a time by
-- the calls that come by (one in a hundred), so the table holds about one day of live windows.
ALTER TABLE internal.rate_limit_counters ADD COLUMN expires_at timestamptz;
UPDATE internal.rate_limit_counters SET expires_at = window_start + interval '31 days';
ALTER TABLE internal.rate_limit_counters ALTER COLUMN expires_at SET NOT NULL;
CREATE INDEX rate_limit_counters_expiry_idx ON internal.rate_limit_counters (expires_at);

CREATE OR REPLACE FUNCTION internal.check_rate_limit(p_key text, p_max int, p_window_seconds int) RETURNS boolean
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
    INSERT INTO internal.rate_limit_counters AS c (key, window_start, hits, expires_at)
    VALUES (p_key, v_window, 1, v_window + make_interval(secs => p_window_seconds))
    ON CONFLICT (key, window_start) DO UPDATE SET hits = c.hits + 1
    RETURNING hits INTO v_hits;
    IF random() < 0.01 THEN
        DELETE FROM internal.rate_limit_counters
        WHERE ctid = ANY (ARRAY(SELECT ctid FROM internal.rate_limit_counters WHERE expires_at < clock_timestamp() LIMIT 1000));
    END IF;
    RETURN v_hits <= p_max;
END
$$;

-- Clients spend only their own budget (the key is prefixed with their id), with a key of at most
-- 100 characters and a window of at most a day. SECURITY DEFINER so that clients need no grant on
-- the internal limiter.
CREATE OR REPLACE FUNCTION public.check_rate_limit(p_key text, p_max int, p_window_seconds int) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF auth.role() = 'service_role' THEN
        RETURN internal.check_rate_limit(p_key, p_max, p_window_seconds);
    END IF;
    IF p_key IS NULL OR length(p_key) > 100 OR p_window_seconds IS NULL OR p_window_seconds NOT BETWEEN 1 AND 86400 THEN
        RAISE EXCEPTION 'check_rate_limit needs a key of at most 100 characters and a window of 1 s to 1 day'
            USING ERRCODE = '22023';
    END IF;
    RETURN internal.check_rate_limit('user:' || coalesce(auth.uid()::text, 'anon') || ':' || p_key, p_max, p_window_seconds);
END
$$;

-- 5. Execute rights by name ----------------------------------------------------------------------
-- Nine migrations ended with GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA internal, re-granting what
-- 0012 had revoked and letting anon run definer helpers. Now nothing in internal is executable by
-- anyone but the owner (a later migration revokes PUBLIC's default EXECUTE on each function it
-- adds there: a per-schema default privilege cannot take a global one away), and the roles of requests get exactly what runs as them: functions the policies call,
-- and the helpers of the SECURITY INVOKER functions of the API. Trigger functions need no grant
-- (PostgreSQL does not check EXECUTE when a trigger fires); definer functions reach their helpers
-- as the owner. `verify` and the schema tests compare this with their allow-list.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA internal FROM PUBLIC, anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION
    -- called by the table policies
    internal.can_see_profile(uuid, uuid),
    internal.is_blocked_between(uuid, uuid),
    internal.viewer_block_partners(),
    internal.viewer_blocked_by(),
    internal.viewer_followed_profiles(),
    -- helpers of the feed and action RPCs, which run as the caller
    internal.decode_cursor(text),
    internal.encode_cursor(timestamptz, uuid),
    internal.feed_limit(int),
    internal.feed_rows(internal.feed_candidate[]),
    internal.posts_by_authors(uuid[], timestamptz, uuid, int),
    -- a definer (see 0009): the spatial scan must not run under RLS; it answers ids and times only
    internal.located_post_candidates(extensions.geography, int, timestamptz, uuid, int),
    internal.require_user(text)
TO anon, authenticated, service_role;
-- The auth service's SQL runs as service_role (GoTrue's user objects and metadata merges).
GRANT EXECUTE ON FUNCTION
    internal.user_json(auth.users),
    internal.iso_time(timestamptz),
    internal.jsonb_merge_patch(jsonb, jsonb)
TO service_role;
