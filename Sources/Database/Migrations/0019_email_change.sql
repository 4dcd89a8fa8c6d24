-- A new email waits for confirmation when EMAIL_CONFIRMATION_REQUIRED is on (issue 17, finding 7),
-- as GoTrue keeps it: the address in use stays until the new one is confirmed, so nobody can claim an
-- address by typing it. The User object shows the pending address as `new_email`.
ALTER TABLE auth.users ADD COLUMN email_change text CHECK (char_length(email_change) BETWEEN 3 AND 320);
ALTER TABLE auth.users ADD COLUMN email_change_sent_at timestamptz;

CREATE OR REPLACE FUNCTION internal.user_json(p_user auth.users) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path = ''
AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
               'id', p_user.id,
               'aud', p_user.aud,
               'role', p_user.role,
               'email', p_user.email,
               'new_email', p_user.email_change,
               'email_change_sent_at', internal.iso_time(p_user.email_change_sent_at),
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
REVOKE ALL ON FUNCTION internal.user_json(auth.users) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION internal.user_json(auth.users) TO service_role;
