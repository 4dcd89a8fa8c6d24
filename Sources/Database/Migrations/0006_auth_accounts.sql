-- Accounts as the auth service needs them: the GoTrue user object built in SQL, and a profile
-- created with every user, in the same transaction, whatever path creates the user.

-- ISO-8601 in UTC with a Z: the clients cannot parse PostgreSQL's default text form.
CREATE FUNCTION internal.iso_time(p_time timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path = ''
AS $$
    SELECT to_char(p_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- The User object of the GoTrue API.
CREATE FUNCTION internal.user_json(p_user auth.users) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = ''
AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
               'id', p_user.id,
               'aud', p_user.aud,
               'role', p_user.role,
               'email', p_user.email,
               'email_confirmed_at', internal.iso_time(p_user.email_confirmed_at),
               'confirmed_at', internal.iso_time(p_user.email_confirmed_at),
               'last_sign_in_at', internal.iso_time(p_user.last_sign_in_at),
               'banned_until', internal.iso_time(p_user.banned_until),
               'created_at', internal.iso_time(p_user.created_at),
               'updated_at', internal.iso_time(p_user.updated_at)))
        || jsonb_build_object(
               'phone', '',
               'app_metadata', p_user.raw_app_meta_data,
               'user_metadata', p_user.raw_user_meta_data,
               'identities', '[]'::jsonb,
               'is_anonymous', false)
$$;

-- A new user gets a profile: the username from metadata (`username`) or the email's local part,
-- reduced to [A-Za-z0-9_], and made unique with a numeric suffix when taken.
CREATE FUNCTION internal.create_profile_for_new_user() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    base text;
    candidate text;
BEGIN
    base := coalesce(nullif(NEW.raw_user_meta_data ->> 'username', ''), split_part(NEW.email, '@', 1));
    base := left(regexp_replace(base, '[^A-Za-z0-9_]', '_', 'g'), 24);
    IF char_length(base) < 3 THEN
        base := 'user_' || base;
    END IF;
    candidate := base;
    FOR attempt IN 1..20 LOOP
        BEGIN
            INSERT INTO public.profiles (id, username, display_name, avatar_url)
            VALUES (
                NEW.id, candidate,
                left(coalesce(NEW.raw_user_meta_data ->> 'display_name', NEW.raw_user_meta_data ->> 'full_name',
                              NEW.raw_user_meta_data ->> 'name'), 100),
                left(NEW.raw_user_meta_data ->> 'avatar_url', 2048));
            RETURN NEW;
        EXCEPTION WHEN unique_violation THEN
            -- Taken (possibly by a concurrent sign-up): try another suffix.
            candidate := base || '_' || (floor(random() * 10 ^ least(attempt + 2, 5)))::int;
        END;
    END LOOP;
    RAISE EXCEPTION 'could not find a free username for %', base USING ERRCODE = '23505';
END
$$;
CREATE TRIGGER users_create_profile AFTER INSERT ON auth.users
    FOR EACH ROW EXECUTE FUNCTION internal.create_profile_for_new_user();

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA internal FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA internal TO anon, authenticated, service_role;

-- Metadata updates as GoTrue applies them: top-level keys of the patch replace the stored ones,
-- and a key set to null is removed.
CREATE FUNCTION internal.jsonb_merge_patch(p_base jsonb, p_patch jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    SET search_path = ''
AS $$
    SELECT coalesce(jsonb_object_agg(key, value) FILTER (WHERE value <> 'null'::jsonb), '{}'::jsonb)
    FROM jsonb_each(coalesce(p_base, '{}'::jsonb) || coalesce(p_patch, '{}'::jsonb))
$$;
REVOKE ALL ON FUNCTION internal.jsonb_merge_patch(jsonb, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION internal.jsonb_merge_patch(jsonb, jsonb) TO anon, authenticated, service_role;
