-- Functions for the admin dashboard. SECURITY DEFINER (they read across users) with a fixed
-- search_path, and each refuses non-admins itself with SQLSTATE 42501, so the refusal comes from
-- the database whichever path calls it.

CREATE FUNCTION public.admin_dashboard_stats() RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF NOT public.is_admin() THEN
        RAISE EXCEPTION 'only admins may read the dashboard' USING ERRCODE = '42501';
    END IF;
    RETURN jsonb_build_object(
        'users', (SELECT count(*) FROM auth.users),
        'banned_users', (SELECT count(*) FROM auth.users WHERE banned_until > now()),
        'posts', (SELECT count(*) FROM public.posts),
        'posts_last_24h', (SELECT count(*) FROM public.posts WHERE created_at > now() - interval '24 hours'),
        'follows', (SELECT count(*) FROM public.follows WHERE status = 'accepted'),
        'entities', (SELECT count(*) FROM public.entities)
    );
END
$$;

-- Moderation: remove any post. Returns whether a post was removed.
CREATE FUNCTION public.admin_delete_post(p_post_id uuid) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF NOT public.is_admin() THEN
        RAISE EXCEPTION 'only admins may remove other users'' posts' USING ERRCODE = '42501';
    END IF;
    DELETE FROM public.posts WHERE id = p_post_id;
    RETURN FOUND;
END
$$;

-- Moderation: ban a user until a time (null lifts the ban). Their sessions end with the ban.
CREATE FUNCTION public.admin_set_user_ban(p_user_id uuid, p_banned_until timestamptz) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF NOT public.is_admin() THEN
        RAISE EXCEPTION 'only admins may ban users' USING ERRCODE = '42501';
    END IF;
    UPDATE auth.users SET banned_until = p_banned_until, updated_at = now() WHERE id = p_user_id;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF p_banned_until IS NOT NULL AND p_banned_until > now() THEN
        DELETE FROM auth.sessions WHERE user_id = p_user_id;
    END IF;
    RETURN true;
END
$$;

-- Callable by the API roles so that the refusal is the function's own (42501), not a missing grant.
REVOKE ALL ON FUNCTION public.admin_dashboard_stats(), public.admin_delete_post(uuid),
    public.admin_set_user_ban(uuid, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.admin_dashboard_stats(), public.admin_delete_post(uuid),
    public.admin_set_user_ban(uuid, timestamptz) TO anon, authenticated, service_role;
