-- Row Level Security is the security boundary: every rule about who sees and changes what lives
-- here, and the server never re-decides it. Policies wrap auth.uid() and is_admin() in a
-- sub-select so PostgreSQL evaluates them once per statement rather than once per row.

-- Helpers policies call. SECURITY DEFINER so that a policy on one table can consult another
-- without recursing through that table's policies; each reads only the two parties it is given.
CREATE FUNCTION internal.is_follower(p_follower uuid, p_profile uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT EXISTS (
        SELECT 1 FROM public.follows
        WHERE follower_id = p_follower AND followed_profile_id = p_profile AND status = 'accepted'
    )
$$;

CREATE FUNCTION internal.has_blocked(p_blocker uuid, p_blocked uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT EXISTS (SELECT 1 FROM public.blocks WHERE blocker_id = p_blocker AND blocked_id = p_blocked)
$$;

CREATE FUNCTION internal.is_blocked_between(p_a uuid, p_b uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT EXISTS (
        SELECT 1 FROM public.blocks
        WHERE (blocker_id = p_a AND blocked_id = p_b) OR (blocker_id = p_b AND blocked_id = p_a)
    )
$$;

-- May `p_viewer` (null for anon) see profile `p_profile`? Yourself always; otherwise public
-- profiles and private ones you follow, unless the profile blocks you.
CREATE FUNCTION internal.can_see_profile(p_viewer uuid, p_profile uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT coalesce(p_viewer = p_profile, false)
        OR EXISTS (
            SELECT 1 FROM public.profiles p
            WHERE p.id = p_profile
              AND (NOT p.is_private OR internal.is_follower(p_viewer, p.id))
              AND NOT (p_viewer IS NOT NULL AND internal.has_blocked(p.id, p_viewer))
        )
$$;

-- May `p_viewer` read a post by `p_author` with this visibility? The author always; nobody across
-- a block (either direction); public posts by public profiles everyone; public posts by private
-- profiles and followers-only posts the author's accepted followers; private posts the author only.
CREATE FUNCTION internal.can_see_post(p_viewer uuid, p_author uuid, p_visibility text) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT CASE
        WHEN p_viewer IS NOT NULL AND p_viewer = p_author THEN true
        WHEN p_viewer IS NOT NULL AND internal.is_blocked_between(p_viewer, p_author) THEN false
        WHEN p_visibility = 'public' THEN
            NOT coalesce((SELECT is_private FROM public.profiles WHERE id = p_author), true)
            OR internal.is_follower(p_viewer, p_author)
        WHEN p_visibility = 'followers' THEN internal.is_follower(p_viewer, p_author)
        ELSE false
    END
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA internal FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA internal TO anon, authenticated, service_role;

-- Admins: users whose app_metadata (set only through the service-role admin API) says so, or the
-- service role itself. Banned users lose the role at once.
CREATE FUNCTION public.is_admin() RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT coalesce(auth.role() = 'service_role', false)
        OR EXISTS (
            SELECT 1 FROM auth.users u
            WHERE u.id = auth.uid()
              AND (u.raw_app_meta_data ->> 'role' = 'admin'
                   OR coalesce(u.raw_app_meta_data -> 'roles', '[]'::jsonb) ? 'admin')
              AND (u.banned_until IS NULL OR u.banned_until <= now())
        )
$$;

-- Following a private profile is a request until accepted; the client cannot choose the status.
CREATE FUNCTION internal.set_follow_status() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    NEW.status := CASE
        WHEN NEW.followed_profile_id IS NOT NULL
             AND (SELECT is_private FROM public.profiles WHERE id = NEW.followed_profile_id)
        THEN 'pending'
        ELSE 'accepted'
    END;
    RETURN NEW;
END
$$;
CREATE TRIGGER follows_set_status BEFORE INSERT ON public.follows
    FOR EACH ROW EXECUTE FUNCTION internal.set_follow_status();

-- A block ends following in both directions. Runs as the blocker, whose policies allow exactly this.
CREATE FUNCTION internal.unfollow_on_block() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = ''
AS $$
BEGIN
    DELETE FROM public.follows
    WHERE (follower_id = NEW.blocker_id AND followed_profile_id = NEW.blocked_id)
       OR (follower_id = NEW.blocked_id AND followed_profile_id = NEW.blocker_id);
    RETURN NEW;
END
$$;
CREATE TRIGGER blocks_unfollow AFTER INSERT ON public.blocks
    FOR EACH ROW EXECUTE FUNCTION internal.unfollow_on_block();
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA internal FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA internal TO anon, authenticated, service_role;

-- Every table: RLS on, and forced so that even the owner goes through the policies.
ALTER TABLE public.profiles ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.profiles FORCE ROW LEVEL SECURITY;
ALTER TABLE public.entities ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.entities FORCE ROW LEVEL SECURITY;
ALTER TABLE public.follows ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.follows FORCE ROW LEVEL SECURITY;
ALTER TABLE public.blocks ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.blocks FORCE ROW LEVEL SECURITY;
ALTER TABLE public.posts ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.posts FORCE ROW LEVEL SECURITY;
ALTER TABLE public.post_targets ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.post_targets FORCE ROW LEVEL SECURITY;
ALTER TABLE public.post_likes ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.post_likes FORCE ROW LEVEL SECURITY;

-- profiles: readable as can_see_profile says; each user writes only their own row.
CREATE POLICY profiles_read ON public.profiles FOR SELECT TO anon, authenticated
    USING (internal.can_see_profile((SELECT auth.uid()), id) OR (SELECT public.is_admin()));
CREATE POLICY profiles_insert_own ON public.profiles FOR INSERT TO authenticated
    WITH CHECK (id = (SELECT auth.uid()));
CREATE POLICY profiles_update_own ON public.profiles FOR UPDATE TO authenticated
    USING (id = (SELECT auth.uid())) WITH CHECK (id = (SELECT auth.uid()));

-- entities: public directory; the creator (or an admin) edits and removes.
CREATE POLICY entities_read ON public.entities FOR SELECT TO anon, authenticated USING (true);
CREATE POLICY entities_insert_own ON public.entities FOR INSERT TO authenticated
    WITH CHECK (created_by = (SELECT auth.uid()));
CREATE POLICY entities_update_own ON public.entities FOR UPDATE TO authenticated
    USING (created_by = (SELECT auth.uid()) OR (SELECT public.is_admin()))
    WITH CHECK (created_by = (SELECT auth.uid()) OR (SELECT public.is_admin()));
CREATE POLICY entities_delete_own ON public.entities FOR DELETE TO authenticated
    USING (created_by = (SELECT auth.uid()) OR (SELECT public.is_admin()));

-- follows: both parties see their edges; others see accepted edges between profiles they may see.
CREATE POLICY follows_read ON public.follows FOR SELECT TO anon, authenticated
    USING (
        follower_id = (SELECT auth.uid())
        OR followed_profile_id = (SELECT auth.uid())
        OR (SELECT public.is_admin())
        OR (status = 'accepted'
            AND internal.can_see_profile((SELECT auth.uid()), follower_id)
            AND (followed_profile_id IS NULL OR internal.can_see_profile((SELECT auth.uid()), followed_profile_id)))
    );
CREATE POLICY follows_insert_own ON public.follows FOR INSERT TO authenticated
    WITH CHECK (
        follower_id = (SELECT auth.uid())
        AND (followed_profile_id IS NULL OR NOT internal.is_blocked_between((SELECT auth.uid()), followed_profile_id))
    );
-- The followed profile accepts a request (only `status` is updatable).
CREATE POLICY follows_accept ON public.follows FOR UPDATE TO authenticated
    USING (followed_profile_id = (SELECT auth.uid())) WITH CHECK (followed_profile_id = (SELECT auth.uid()));
-- Unfollow, or remove a follower.
CREATE POLICY follows_delete_own ON public.follows FOR DELETE TO authenticated
    USING (follower_id = (SELECT auth.uid()) OR followed_profile_id = (SELECT auth.uid()));

-- blocks: private to the blocker.
CREATE POLICY blocks_read_own ON public.blocks FOR SELECT TO authenticated
    USING (blocker_id = (SELECT auth.uid()) OR (SELECT public.is_admin()));
CREATE POLICY blocks_insert_own ON public.blocks FOR INSERT TO authenticated
    WITH CHECK (blocker_id = (SELECT auth.uid()));
CREATE POLICY blocks_delete_own ON public.blocks FOR DELETE TO authenticated
    USING (blocker_id = (SELECT auth.uid()));

-- posts: visibility as can_see_post says; authors write their own; admins may read and remove any.
CREATE POLICY posts_read ON public.posts FOR SELECT TO anon, authenticated
    USING (internal.can_see_post((SELECT auth.uid()), author_id, visibility) OR (SELECT public.is_admin()));
CREATE POLICY posts_insert_own ON public.posts FOR INSERT TO authenticated
    WITH CHECK (author_id = (SELECT auth.uid()));
CREATE POLICY posts_update_own ON public.posts FOR UPDATE TO authenticated
    USING (author_id = (SELECT auth.uid())) WITH CHECK (author_id = (SELECT auth.uid()));
CREATE POLICY posts_delete_own ON public.posts FOR DELETE TO authenticated
    USING (author_id = (SELECT auth.uid()) OR (SELECT public.is_admin()));

-- post_targets: visible with their post; the post's author adds and removes them, and may only
-- target profiles they can see.
CREATE POLICY post_targets_read ON public.post_targets FOR SELECT TO anon, authenticated
    USING (EXISTS (SELECT 1 FROM public.posts p WHERE p.id = post_id));
CREATE POLICY post_targets_insert_own ON public.post_targets FOR INSERT TO authenticated
    WITH CHECK (
        EXISTS (SELECT 1 FROM public.posts p WHERE p.id = post_id AND p.author_id = (SELECT auth.uid()))
        AND (target_profile_id IS NULL OR internal.can_see_profile((SELECT auth.uid()), target_profile_id))
    );
CREATE POLICY post_targets_delete_own ON public.post_targets FOR DELETE TO authenticated
    USING (EXISTS (SELECT 1 FROM public.posts p WHERE p.id = post_id AND p.author_id = (SELECT auth.uid())));

-- post_likes: visible with their post; a user likes, as themselves, posts they can see.
CREATE POLICY post_likes_read ON public.post_likes FOR SELECT TO anon, authenticated
    USING (EXISTS (SELECT 1 FROM public.posts p WHERE p.id = post_id));
CREATE POLICY post_likes_insert_own ON public.post_likes FOR INSERT TO authenticated
    WITH CHECK (profile_id = (SELECT auth.uid()) AND EXISTS (SELECT 1 FROM public.posts p WHERE p.id = post_id));
CREATE POLICY post_likes_delete_own ON public.post_likes FOR DELETE TO authenticated
    USING (profile_id = (SELECT auth.uid()));

-- Table privileges: what each role may attempt at all (policies then decide which rows).
-- Column lists keep server-managed columns (timestamps, follow status, counters) out of clients' hands.
GRANT SELECT ON public.profiles, public.entities, public.follows, public.posts, public.post_targets, public.post_likes TO anon;
GRANT SELECT ON public.profiles, public.entities, public.follows, public.blocks, public.posts, public.post_targets, public.post_likes TO authenticated;
GRANT INSERT (id, username, display_name, bio, avatar_url, is_private),
      UPDATE (username, display_name, bio, avatar_url, is_private) ON public.profiles TO authenticated;
GRANT INSERT (id, kind, name, description, location, created_by),
      UPDATE (kind, name, description, location), DELETE ON public.entities TO authenticated;
GRANT INSERT (follower_id, followed_profile_id, followed_entity_id), UPDATE (status), DELETE ON public.follows TO authenticated;
GRANT INSERT (blocker_id, blocked_id), DELETE ON public.blocks TO authenticated;
GRANT INSERT (id, author_id, body, visibility, location),
      UPDATE (body, visibility, location), DELETE ON public.posts TO authenticated;
GRANT INSERT (post_id, target_entity_id, target_profile_id), DELETE ON public.post_targets TO authenticated;
GRANT INSERT (post_id, profile_id), DELETE ON public.post_likes TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO service_role;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO authenticated, service_role;
