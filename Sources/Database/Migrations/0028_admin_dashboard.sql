-- The admin dashboard's data (issue 20). Every function here is SECURITY DEFINER (it reads or
-- changes other users' rows), refuses anyone who is not an admin itself (42501, from the database,
-- whichever path calls it: the dashboard, /rest/v1, psql as a request role), and writes what it
-- changed to an audit log in the same transaction — an action is never done without its entry.

CREATE TABLE internal.admin_audit (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    -- No foreign keys: the log outlives the accounts it names.
    admin_id uuid,
    action text NOT NULL CHECK (char_length(action) BETWEEN 1 AND 64),
    target uuid,
    detail jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX admin_audit_at_idx ON internal.admin_audit (at DESC, id DESC);
ALTER TABLE internal.admin_audit ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON internal.admin_audit FROM PUBLIC, anon, authenticated, service_role;

-- The caller, when an admin; else 42501 naming what was refused.
CREATE FUNCTION internal.require_admin(p_what text) RETURNS uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF NOT public.is_admin() THEN
        RAISE EXCEPTION 'only admins may %', p_what USING ERRCODE = '42501';
    END IF;
    RETURN auth.uid();
END
$$;

CREATE FUNCTION internal.audit(p_admin uuid, p_action text, p_target uuid, p_detail jsonb) RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = ''
AS $$
    INSERT INTO internal.admin_audit (admin_id, action, target, detail) VALUES (p_admin, p_action, p_target, coalesce(p_detail, '{}'::jsonb))
$$;

-- One user as the dashboard lists them.
CREATE FUNCTION internal.admin_user_row(u auth.users) RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT jsonb_build_object(
        'id', u.id, 'email', u.email, 'created_at', u.created_at, 'last_sign_in_at', u.last_sign_in_at,
        'banned_until', CASE WHEN u.banned_until > now() THEN u.banned_until END,
        'is_admin', coalesce(u.raw_app_meta_data ->> 'role' = 'admin', false) OR coalesce(u.raw_app_meta_data -> 'roles', '[]'::jsonb) ? 'admin',
        'username', p.username, 'display_name', p.display_name)
    FROM (SELECT 1) one LEFT JOIN public.profiles p ON p.id = u.id
$$;

-- Users whose email or username contains `p_query` (all without one), newest first, a page at a time.
CREATE FUNCTION public.admin_users(p_query text, p_limit integer, p_offset integer) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_pattern text;
    v_result jsonb;
BEGIN
    PERFORM internal.require_admin('list users');
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'p_limit must be between 1 and 100' USING ERRCODE = '22023';
    END IF;
    IF p_offset IS NULL OR p_offset NOT BETWEEN 0 AND 1000000 THEN
        RAISE EXCEPTION 'p_offset must be between 0 and 1000000' USING ERRCODE = '22023';
    END IF;
    IF char_length(coalesce(p_query, '')) > 320 THEN
        RAISE EXCEPTION 'the search is longer than an email address can be' USING ERRCODE = '22023';
    END IF;
    -- The search text is matched literally: its % and _ are not wildcards.
    v_pattern := '%' || replace(replace(replace(lower(btrim(coalesce(p_query, ''))), '\', '\\'), '%', '\%'), '_', '\_') || '%';
    WITH matching AS (
        SELECT u AS account FROM auth.users u LEFT JOIN public.profiles p ON p.id = u.id
        WHERE v_pattern = '%%' OR lower(u.email) LIKE v_pattern OR lower(p.username) LIKE v_pattern
    )
    SELECT jsonb_build_object(
        'total', (SELECT count(*) FROM matching),
        'users', coalesce((
            SELECT jsonb_agg(internal.admin_user_row(m.account) ORDER BY (m.account).created_at DESC, (m.account).id)
            FROM (SELECT account FROM matching ORDER BY (account).created_at DESC, (account).id LIMIT p_limit OFFSET p_offset) m),
            '[]'::jsonb))
    INTO v_result;
    RETURN v_result;
END
$$;

-- One user in full: account, profile, live sessions, latest posts, counts, and what admins did to them.
CREATE FUNCTION public.admin_user(p_user_id uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_user auth.users;
BEGIN
    PERFORM internal.require_admin('read users');
    SELECT * INTO v_user FROM auth.users WHERE id = p_user_id;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN internal.admin_user_row(v_user) || jsonb_build_object(
        'bio', (SELECT bio FROM public.profiles WHERE id = p_user_id),
        'is_private', (SELECT is_private FROM public.profiles WHERE id = p_user_id),
        'sessions', coalesce((SELECT jsonb_agg(jsonb_build_object('id', s.id, 'created_at', s.created_at, 'updated_at', s.updated_at)
                                               ORDER BY s.updated_at DESC)
                              FROM auth.sessions s WHERE s.user_id = p_user_id), '[]'::jsonb),
        'posts', coalesce((SELECT jsonb_agg(jsonb_build_object('id', p.id, 'body', p.body, 'visibility', p.visibility,
                                                               'created_at', p.created_at, 'like_count', p.like_count)
                                            ORDER BY p.created_at DESC)
                           FROM (SELECT * FROM public.posts WHERE author_id = p_user_id ORDER BY created_at DESC LIMIT 20) p), '[]'::jsonb),
        'post_count', (SELECT count(*) FROM public.posts WHERE author_id = p_user_id),
        'followers', (SELECT count(*) FROM public.follows WHERE followed_profile_id = p_user_id AND status = 'accepted'),
        'following', (SELECT count(*) FROM public.follows WHERE follower_id = p_user_id AND status = 'accepted'),
        'audit', coalesce((SELECT jsonb_agg(jsonb_build_object('at', a.at, 'action', a.action, 'admin_id', a.admin_id, 'detail', a.detail)
                                            ORDER BY a.at DESC, a.id DESC)
                           FROM (SELECT * FROM internal.admin_audit WHERE target = p_user_id ORDER BY at DESC, id DESC LIMIT 20) a), '[]'::jsonb));
END
$$;

-- Ban until a time (null lifts it): the user's sessions end with the ban, everywhere at once (the
-- session triggers of 0018). An admin cannot ban themselves (nobody would be left to lift it).
CREATE OR REPLACE FUNCTION public.admin_ban_user(p_user_id uuid, p_until timestamptz) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_admin uuid := internal.require_admin('ban users');
BEGIN
    IF p_user_id = v_admin AND p_until > now() THEN
        RAISE EXCEPTION 'admins may not ban themselves' USING ERRCODE = '22023';
    END IF;
    UPDATE auth.users SET banned_until = p_until, updated_at = now() WHERE id = p_user_id;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF p_until IS NOT NULL AND p_until > now() THEN
        DELETE FROM auth.sessions WHERE user_id = p_user_id;
    END IF;
    PERFORM internal.audit(v_admin, CASE WHEN p_until > now() THEN 'ban' ELSE 'unban' END, p_user_id,
                           jsonb_build_object('until', p_until));
    RETURN true;
END
$$;

-- The same, under its first name (migration 0005).
CREATE OR REPLACE FUNCTION public.admin_set_user_ban(p_user_id uuid, p_banned_until timestamptz) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    PERFORM internal.require_admin('ban users');
    RETURN public.admin_ban_user(p_user_id, p_banned_until);
END
$$;

-- Makes or unmakes an admin (app_metadata.role). Takes effect at once in the database (is_admin()
-- reads the account), and in the user's tokens from their next refresh. An admin cannot unmake
-- themselves (an install would lose its last admin by a slip).
CREATE FUNCTION public.admin_set_admin(p_user_id uuid, p_admin boolean) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_admin uuid := internal.require_admin('change who is an admin');
BEGIN
    IF p_admin IS NULL THEN
        RAISE EXCEPTION 'p_admin must be true or false' USING ERRCODE = '22023';
    END IF;
    IF p_user_id = v_admin AND NOT p_admin THEN
        RAISE EXCEPTION 'admins may not remove their own admin role' USING ERRCODE = '22023';
    END IF;
    UPDATE auth.users SET
        raw_app_meta_data = CASE WHEN p_admin
            THEN (raw_app_meta_data - 'role') || jsonb_build_object('role', 'admin')
            ELSE (raw_app_meta_data - 'role') || jsonb_build_object('roles',
                coalesce((SELECT jsonb_agg(r) FROM jsonb_array_elements(coalesce(raw_app_meta_data -> 'roles', '[]'::jsonb)) r
                          WHERE r <> '"admin"'::jsonb), '[]'::jsonb)) END,
        updated_at = now()
    WHERE id = p_user_id;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM internal.audit(v_admin, CASE WHEN p_admin THEN 'make_admin' ELSE 'unmake_admin' END, p_user_id, '{}'::jsonb);
    RETURN true;
END
$$;

-- Signs a user out everywhere: every session ends, and with it every token naming one, at once.
-- Returns how many sessions ended.
CREATE FUNCTION public.admin_sign_out_user(p_user_id uuid) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_admin uuid := internal.require_admin('sign users out');
    v_ended integer;
BEGIN
    DELETE FROM auth.sessions WHERE user_id = p_user_id;
    GET DIAGNOSTICS v_ended = ROW_COUNT;
    PERFORM internal.audit(v_admin, 'sign_out', p_user_id, jsonb_build_object('sessions', v_ended));
    RETURN v_ended;
END
$$;

-- Deletes an account and everything that is theirs (profile, posts, follows, likes: cascades).
CREATE FUNCTION public.admin_delete_user(p_user_id uuid) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_admin uuid := internal.require_admin('delete users');
    v_email text;
BEGIN
    IF p_user_id = v_admin THEN
        RAISE EXCEPTION 'admins may not delete their own account here' USING ERRCODE = '22023';
    END IF;
    DELETE FROM auth.users WHERE id = p_user_id RETURNING email INTO v_email;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM internal.audit(v_admin, 'delete_user', p_user_id, jsonb_build_object('email', v_email));
    RETURN true;
END
$$;

-- Moderation: remove any post (migration 0005), now with its audit entry.
CREATE OR REPLACE FUNCTION public.admin_delete_post(p_post_id uuid) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_admin uuid := internal.require_admin('remove other users'' posts');
    v_author uuid;
    v_body text;
BEGIN
    DELETE FROM public.posts WHERE id = p_post_id RETURNING author_id, body INTO v_author, v_body;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM internal.audit(v_admin, 'delete_post', v_author, jsonb_build_object('post', p_post_id, 'body', left(v_body, 200)));
    RETURN true;
END
$$;

-- Sign-ups, posts and active users per day (UTC) over the last `p_days` days, oldest first. Read once
-- when the overview opens (not on its refresh): bounded by the day range and the created_at indexes.
CREATE FUNCTION public.admin_activity(p_days integer) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_from timestamptz;
BEGIN
    PERFORM internal.require_admin('read the statistics');
    IF p_days IS NULL OR p_days NOT BETWEEN 1 AND 90 THEN
        RAISE EXCEPTION 'p_days must be between 1 and 90' USING ERRCODE = '22023';
    END IF;
    v_from := date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - make_interval(days => p_days - 1);
    RETURN (
        WITH days AS (
            SELECT d AS day FROM generate_series(v_from, now(), interval '1 day') d
        ),
        signups AS (
            SELECT date_trunc('day', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day, count(*) AS n
            FROM auth.users WHERE created_at >= v_from GROUP BY 1
        ),
        posts AS (
            SELECT date_trunc('day', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS day, count(*) AS n,
                   count(DISTINCT author_id) AS authors
            FROM public.posts WHERE created_at >= v_from GROUP BY 1
        )
        SELECT jsonb_agg(jsonb_build_object(
            'day', to_char(d.day AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
            'signups', coalesce(s.n, 0), 'posts', coalesce(p.n, 0), 'active_users', coalesce(p.authors, 0)) ORDER BY d.day)
        FROM days d LEFT JOIN signups s ON s.day = d.day LEFT JOIN posts p ON p.day = d.day);
END
$$;

-- The audit log, newest first, a page at a time (`p_before`: the last id of the previous page).
CREATE FUNCTION public.admin_audit_log(p_limit integer, p_before bigint) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    PERFORM internal.require_admin('read the audit log');
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'p_limit must be between 1 and 200' USING ERRCODE = '22023';
    END IF;
    RETURN coalesce((
        SELECT jsonb_agg(jsonb_build_object('id', a.id, 'at', a.at, 'admin_id', a.admin_id, 'admin_email', u.email,
                                            'action', a.action, 'target', a.target, 'detail', a.detail) ORDER BY a.at DESC, a.id DESC)
        FROM (SELECT * FROM internal.admin_audit WHERE p_before IS NULL OR id < p_before ORDER BY at DESC, id DESC LIMIT p_limit) a
        LEFT JOIN auth.users u ON u.id = a.admin_id), '[]'::jsonb);
END
$$;

-- An admin action the server carries out itself (flushing its cache): checked and logged here first,
-- so that the database decides who may, whichever server instance asks.
CREATE FUNCTION public.admin_record_action(p_action text, p_detail jsonb) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_admin uuid := internal.require_admin('act on the server');
BEGIN
    IF p_action IS NULL OR p_action NOT IN ('flush_cache') THEN
        RAISE EXCEPTION 'unknown server action %', p_action USING ERRCODE = '22023';
    END IF;
    PERFORM internal.audit(v_admin, p_action, NULL, p_detail);
    RETURN true;
END
$$;

REVOKE ALL ON FUNCTION internal.require_admin(text), internal.audit(uuid, text, uuid, jsonb),
    internal.admin_user_row(auth.users) FROM PUBLIC;
-- Callable by the API roles so that a refusal is the function's own (42501), not a missing grant.
REVOKE ALL ON FUNCTION public.admin_users(text, integer, integer), public.admin_user(uuid),
    public.admin_set_admin(uuid, boolean), public.admin_sign_out_user(uuid), public.admin_delete_user(uuid),
    public.admin_activity(integer), public.admin_audit_log(integer, bigint), public.admin_record_action(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.admin_users(text, integer, integer), public.admin_user(uuid),
    public.admin_set_admin(uuid, boolean), public.admin_sign_out_user(uuid), public.admin_delete_user(uuid),
    public.admin_activity(integer), public.admin_audit_log(integer, bigint), public.admin_record_action(text, jsonb)
    TO anon, authenticated, service_role;
