-- Functions the app calls through /rest/v1/rpc. SECURITY INVOKER: they run as the caller, so
-- Row Level Security decides exactly as for the tables.

-- Profiles whose username or display name contains the query, as the caller may see them.
CREATE FUNCTION public.search_profiles(p_query text, p_limit int DEFAULT 20) RETURNS SETOF public.profiles
    LANGUAGE sql STABLE
    SET search_path = ''
AS $$
    SELECT * FROM public.profiles
    WHERE p_query IS NOT NULL AND char_length(p_query) BETWEEN 1 AND 100
      AND (username ILIKE '%' || p_query || '%' OR display_name ILIKE '%' || p_query || '%')
    ORDER BY lower(username)
    LIMIT least(greatest(coalesce(p_limit, 20), 1), 100)
$$;

-- Follow a profile as the signed-in user (a request when the profile is private); idempotent.
CREATE FUNCTION public.follow_profile(p_profile_id uuid) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = ''
AS $$
BEGIN
    IF auth.uid() IS NULL THEN
        RAISE EXCEPTION 'sign in to follow' USING ERRCODE = '42501';
    END IF;
    INSERT INTO public.follows (follower_id, followed_profile_id) VALUES (auth.uid(), p_profile_id)
    ON CONFLICT ON CONSTRAINT follows_profile_once DO NOTHING;
END
$$;

CREATE FUNCTION public.unfollow_profile(p_profile_id uuid) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = ''
AS $$
BEGIN
    IF auth.uid() IS NULL THEN
        RAISE EXCEPTION 'sign in to unfollow' USING ERRCODE = '42501';
    END IF;
    DELETE FROM public.follows WHERE follower_id = auth.uid() AND followed_profile_id = p_profile_id;
END
$$;
