-- A private profile can be found and asked to follow (issue 21: follow requests in the app). The
-- profiles policy hides a private profile's row from everyone but its accepted followers, so an app
-- could not show it, nor learn the id that follow_profile takes. This answers what the big apps show
-- of a private account — its id, username, display name and that it is private — to anyone it has
-- not blocked; its bio, posts and lists stay behind the policies. A profile whose row the caller
-- may read is answered in full (as that caller reads it: the policy decides, not this function).
CREATE FUNCTION public.profile_summary(p_username text) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_viewer uuid := auth.uid();
    v_profile public.profiles;
BEGIN
    IF p_username IS NULL OR p_username !~ '^[A-Za-z0-9_]{3,30}$' THEN
        RETURN NULL;
    END IF;
    SELECT * INTO v_profile FROM public.profiles WHERE username = p_username;
    IF NOT FOUND OR (v_viewer IS NOT NULL AND v_viewer <> v_profile.id AND internal.has_blocked(v_profile.id, v_viewer)) THEN
        RETURN NULL;
    END IF;
    IF internal.can_see_profile(v_viewer, v_profile.id) THEN
        RETURN jsonb_build_object('id', v_profile.id, 'username', v_profile.username, 'display_name', v_profile.display_name,
                                  'bio', v_profile.bio, 'is_private', v_profile.is_private, 'visible', true);
    END IF;
    RETURN jsonb_build_object('id', v_profile.id, 'username', v_profile.username, 'display_name', v_profile.display_name,
                              'is_private', true, 'visible', false);
END
$$;
REVOKE ALL ON FUNCTION public.profile_summary(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.profile_summary(text) TO anon, authenticated, service_role;
