-- What the feeds read per row, kept next to the row so that neither the feed queries nor the
-- posts policy need a lookup in another table for every post they consider.
--
-- posts.author_private: the author's profiles.is_private, copied on insert and whenever it changes.
-- posts.like_count: maintained by the likes trigger (counting likes under RLS per post is a
--   policy check per like row).
-- post_targets.post_created_at: the post's time, so that "newest posts targeting X" is one index
--   range scan in (created_at, id) order, like the per-author index on posts.
-- post_targets.post_author_id / post_visibility / post_author_private: what the posts policy reads,
--   so that the post_targets policy applies the same rule to the row itself instead of looking the
--   post up (a feed reads hundreds of targets per page).
ALTER TABLE public.posts ADD COLUMN author_private boolean NOT NULL DEFAULT false;
ALTER TABLE public.posts ADD COLUMN like_count integer NOT NULL DEFAULT 0 CHECK (like_count >= 0);
ALTER TABLE public.post_targets ADD COLUMN post_created_at timestamptz;
ALTER TABLE public.post_targets ADD COLUMN post_author_id uuid;
ALTER TABLE public.post_targets ADD COLUMN post_visibility text;
ALTER TABLE public.post_targets ADD COLUMN post_author_private boolean;

UPDATE public.posts p SET author_private = pr.is_private FROM public.profiles pr WHERE pr.id = p.author_id AND pr.is_private;
UPDATE public.posts p SET like_count = l.n
    FROM (SELECT post_id, count(*)::int AS n FROM public.post_likes GROUP BY post_id) l WHERE l.post_id = p.id;
UPDATE public.post_targets t
    SET post_created_at = p.created_at, post_author_id = p.author_id, post_visibility = p.visibility,
        post_author_private = p.author_private
    FROM public.posts p WHERE p.id = t.post_id;
ALTER TABLE public.post_targets ALTER COLUMN post_created_at SET NOT NULL,
    ALTER COLUMN post_author_id SET NOT NULL, ALTER COLUMN post_visibility SET NOT NULL,
    ALTER COLUMN post_author_private SET NOT NULL;

-- "Newest posts within a circle": one GiST index over (location, created_at) answers it as a
-- nearest-in-time scan (KNN on created_at through btree_gist) restricted to the circle's box, so it
-- stops after the first page instead of sorting every post in a city.
CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA extensions;
DROP INDEX public.posts_location_idx;
CREATE INDEX posts_location_time_idx ON public.posts USING gist (location, created_at) WHERE location IS NOT NULL;

DROP INDEX public.post_targets_entity_idx;
DROP INDEX public.post_targets_profile_idx;
-- INCLUDE what the policy reads: the feeds' scans of these stay index-only.
CREATE INDEX post_targets_entity_time_idx ON public.post_targets (target_entity_id, post_created_at DESC, post_id DESC)
    INCLUDE (post_author_id, post_visibility, post_author_private) WHERE target_entity_id IS NOT NULL;
CREATE INDEX post_targets_profile_time_idx ON public.post_targets (target_profile_id, post_created_at DESC, post_id DESC)
    INCLUDE (post_author_id, post_visibility, post_author_private) WHERE target_profile_id IS NOT NULL;
-- post_targets by post (the feed rows' "targets") is served by the unique (post_id, …) indexes.

-- The copies are the server's to keep: clients write neither (the column grants of 0004 list the
-- columns clients may insert and update, and these are not among them).
CREATE FUNCTION internal.posts_copy_author_privacy() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    NEW.author_private := coalesce((SELECT is_private FROM public.profiles WHERE id = NEW.author_id), false);
    IF TG_OP = 'INSERT' THEN
        NEW.like_count := 0;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER posts_author_privacy BEFORE INSERT ON public.posts
    FOR EACH ROW EXECUTE FUNCTION internal.posts_copy_author_privacy();

CREATE FUNCTION internal.profiles_propagate_privacy() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    UPDATE public.posts SET author_private = NEW.is_private WHERE author_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER profiles_privacy AFTER UPDATE OF is_private ON public.profiles
    FOR EACH ROW WHEN (OLD.is_private IS DISTINCT FROM NEW.is_private)
    EXECUTE FUNCTION internal.profiles_propagate_privacy();

CREATE FUNCTION internal.post_likes_count() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE public.posts SET like_count = like_count + 1 WHERE id = NEW.post_id;
    ELSE
        UPDATE public.posts SET like_count = greatest(like_count - 1, 0) WHERE id = OLD.post_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER post_likes_count AFTER INSERT OR DELETE ON public.post_likes
    FOR EACH ROW EXECUTE FUNCTION internal.post_likes_count();

CREATE FUNCTION internal.post_targets_copy_time() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    SELECT p.created_at, p.author_id, p.visibility, p.author_private
    INTO NEW.post_created_at, NEW.post_author_id, NEW.post_visibility, NEW.post_author_private
    FROM public.posts p WHERE p.id = NEW.post_id;
    RETURN NEW;
END
$$;
CREATE TRIGGER post_targets_time BEFORE INSERT ON public.post_targets
    FOR EACH ROW EXECUTE FUNCTION internal.post_targets_copy_time();

-- A post's visibility or its author's privacy changed: its targets follow.
CREATE FUNCTION internal.posts_propagate_visibility() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    UPDATE public.post_targets SET post_visibility = NEW.visibility, post_author_private = NEW.author_private
    WHERE post_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER posts_visibility AFTER UPDATE OF visibility, author_private ON public.posts
    FOR EACH ROW WHEN (OLD.visibility IS DISTINCT FROM NEW.visibility OR OLD.author_private IS DISTINCT FROM NEW.author_private)
    EXECUTE FUNCTION internal.posts_propagate_visibility();

-- updated_at tracks what the author wrote, not the counters the server keeps.
DROP TRIGGER posts_touch ON public.posts;
CREATE TRIGGER posts_touch BEFORE UPDATE OF body, visibility, location ON public.posts
    FOR EACH ROW EXECUTE FUNCTION internal.touch_updated_at();

-- Functions every policy calls, as PL/pgSQL: PostgreSQL plans an SQL-language function that it
-- cannot inline (SET search_path, SECURITY DEFINER) again in every statement that calls it, which
-- cost a feed query about a millisecond per function; PL/pgSQL keeps its plans for the connection.
-- Same bodies and results as in 0002 and 0004.
CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb
    LANGUAGE plpgsql STABLE
    SET search_path = ''
AS $$
BEGIN
    RETURN coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb;
END
$$;

CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid
    LANGUAGE plpgsql STABLE
    SET search_path = ''
AS $$
DECLARE
    v_sub text := auth.jwt() ->> 'sub';
BEGIN
    IF v_sub ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        RETURN v_sub::uuid;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION auth.role() RETURNS text
    LANGUAGE plpgsql STABLE
    SET search_path = ''
AS $$
BEGIN
    RETURN auth.jwt() ->> 'role';
END
$$;

CREATE OR REPLACE FUNCTION public.is_admin() RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_uid uuid;
BEGIN
    IF coalesce(auth.role() = 'service_role', false) THEN
        RETURN true;
    END IF;
    v_uid := auth.uid();
    IF v_uid IS NULL THEN
        RETURN false;
    END IF;
    RETURN EXISTS (
        SELECT 1 FROM auth.users u
        WHERE u.id = v_uid
          AND (u.raw_app_meta_data ->> 'role' = 'admin'
               OR coalesce(u.raw_app_meta_data -> 'roles', '[]'::jsonb) ? 'admin')
          AND (u.banned_until IS NULL OR u.banned_until <= now())
    );
END
$$;

-- The viewer's relationships, computed once per statement: policies call these inside a
-- sub-select, so PostgreSQL runs each once (an InitPlan) and then checks every row against an
-- array instead of running a function with its own queries per row. SECURITY DEFINER because a
-- policy must not recurse through the policies of follows and blocks; each reads only rows of
-- the caller (auth.uid()).
CREATE FUNCTION internal.viewer_block_partners() RETURNS uuid[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    RETURN ARRAY(
        SELECT blocked_id FROM public.blocks WHERE blocker_id = auth.uid()
        UNION
        SELECT blocker_id FROM public.blocks WHERE blocked_id = auth.uid());
END
$$;

CREATE FUNCTION internal.viewer_followed_profiles() RETURNS uuid[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    RETURN ARRAY(
        SELECT followed_profile_id FROM public.follows
        WHERE follower_id = auth.uid() AND status = 'accepted' AND followed_profile_id IS NOT NULL);
END
$$;

CREATE FUNCTION internal.viewer_blocked_by() RETURNS uuid[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    RETURN ARRAY(SELECT blocker_id FROM public.blocks WHERE blocked_id = auth.uid());
END
$$;

-- Same rules as internal.can_see_profile, in the same once-per-statement form: yourself always;
-- otherwise public profiles and private ones you follow, unless the profile blocks you. (Feeds
-- show an author object per row, so this policy runs once per feed row.)
DROP POLICY profiles_read ON public.profiles;
CREATE POLICY profiles_read ON public.profiles FOR SELECT TO anon, authenticated
    USING (
        id = (SELECT auth.uid())
        OR (SELECT public.is_admin())
        OR (
            id <> ALL ((SELECT internal.viewer_blocked_by())::uuid[])
            AND (NOT is_private OR id = ANY ((SELECT internal.viewer_followed_profiles())::uuid[]))
        )
    );

-- Same rules as internal.can_see_post (which stays for single checks), written so that the
-- planner evaluates the viewer's relationships once and each row costs a few comparisons: the
-- author always; nobody across a block; public posts of public profiles everyone; public posts of
-- private profiles and followers-only posts the accepted followers; private posts the author only.
DROP POLICY posts_read ON public.posts;
CREATE POLICY posts_read ON public.posts FOR SELECT TO anon, authenticated
    USING (
        author_id = (SELECT auth.uid())
        OR (SELECT public.is_admin())
        OR (
            author_id <> ALL ((SELECT internal.viewer_block_partners())::uuid[])
            AND (
                (visibility = 'public' AND NOT author_private)
                OR (visibility <> 'private' AND author_id = ANY ((SELECT internal.viewer_followed_profiles())::uuid[]))
            )
        )
    );

-- A target is visible with its post: the posts rule, applied to the copy of the post's columns.
DROP POLICY post_targets_read ON public.post_targets;
CREATE POLICY post_targets_read ON public.post_targets FOR SELECT TO anon, authenticated
    USING (
        post_author_id = (SELECT auth.uid())
        OR (SELECT public.is_admin())
        OR (
            post_author_id <> ALL ((SELECT internal.viewer_block_partners())::uuid[])
            AND (
                (post_visibility = 'public' AND NOT post_author_private)
                OR (post_visibility <> 'private' AND post_author_id = ANY ((SELECT internal.viewer_followed_profiles())::uuid[]))
            )
        )
    );

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA internal FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA internal TO anon, authenticated, service_role;
