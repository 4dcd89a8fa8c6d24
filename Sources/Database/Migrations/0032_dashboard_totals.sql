-- The dashboard's Overview within its 500 ms (issue 20). On the seeded data set `admin_stats` counted
-- a million posts and scanned ~960,000 likes for "active today", and `admin_activity` grouped a
-- month of posts, every time the page opened: ~400 ms each when they ran side by side on 2 cores.
-- Now the totals are kept as they change, a closed day's figures are computed once, and one
-- definition of "active" serves both functions (before, the 30 days counted authors only).

-- A day's likes are found by time (active users), not by reading all of them.
CREATE INDEX post_likes_created_idx ON public.post_likes (created_at);

-- Exact row totals without counting. A statement adds its rows' count to a row of the relation's
-- that no other transaction holds (`FOR UPDATE SKIP LOCKED`), or to a new one when all are held: a
-- writer never waits for another's lock (a long transaction that inserted a post must not hold up
-- every other post), and the rows stay as few as the writers that ever ran at once. The total is
-- their sum.
CREATE TABLE internal.row_totals (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    relation text NOT NULL,
    n bigint NOT NULL
);
CREATE INDEX row_totals_relation_idx ON internal.row_totals (relation);
ALTER TABLE internal.row_totals ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON internal.row_totals FROM PUBLIC, anon, authenticated, service_role;

CREATE FUNCTION internal.row_totals_add() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_delta bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT count(*) INTO v_delta FROM changed_rows;
    ELSE
        SELECT -count(*) INTO v_delta FROM changed_rows;
    END IF;
    IF v_delta <> 0 THEN
        UPDATE internal.row_totals t SET n = t.n + v_delta
        WHERE t.id = (SELECT id FROM internal.row_totals WHERE relation = TG_ARGV[0] LIMIT 1 FOR UPDATE SKIP LOCKED);
        IF NOT FOUND THEN
            INSERT INTO internal.row_totals (relation, n) VALUES (TG_ARGV[0], v_delta);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION internal.row_totals_reset() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    DELETE FROM internal.row_totals WHERE relation = TG_ARGV[0];
    RETURN NULL;
END
$$;

-- Statement-level with transition tables: one update per statement however many rows it wrote
-- (a cascade from a deleted user deletes its posts in one statement, counted once).
CREATE TRIGGER row_totals_insert AFTER INSERT ON auth.users
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION internal.row_totals_add('users');
CREATE TRIGGER row_totals_delete AFTER DELETE ON auth.users
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION internal.row_totals_add('users');
CREATE TRIGGER row_totals_truncate AFTER TRUNCATE ON auth.users
    FOR EACH STATEMENT EXECUTE FUNCTION internal.row_totals_reset('users');
CREATE TRIGGER row_totals_insert AFTER INSERT ON public.posts
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION internal.row_totals_add('posts');
CREATE TRIGGER row_totals_delete AFTER DELETE ON public.posts
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION internal.row_totals_add('posts');
CREATE TRIGGER row_totals_truncate AFTER TRUNCATE ON public.posts
    FOR EACH STATEMENT EXECUTE FUNCTION internal.row_totals_reset('posts');

CREATE FUNCTION internal.row_total(p_relation text) RETURNS bigint
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT coalesce(sum(n), 0)::bigint FROM internal.row_totals WHERE relation = p_relation
$$;

-- One UTC day's figures. Active: signed in (the account's last sign-in or a session begun that
-- day), posted or liked. Each part is an index range over that day only.
CREATE FUNCTION internal.activity_on(p_day date) RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    WITH bounds AS (
        SELECT p_day::timestamp AT TIME ZONE 'UTC' AS f, (p_day + 1)::timestamp AT TIME ZONE 'UTC' AS t
    )
    SELECT jsonb_build_object(
        'day', to_char(p_day, 'YYYY-MM-DD'),
        'signups', (SELECT count(*) FROM auth.users, bounds WHERE created_at >= f AND created_at < t),
        'posts', (SELECT count(*) FROM public.posts, bounds WHERE created_at >= f AND created_at < t),
        'active_users', (SELECT count(*) FROM (
            SELECT id FROM auth.users, bounds WHERE last_sign_in_at >= f AND last_sign_in_at < t
            UNION SELECT user_id FROM auth.sessions, bounds WHERE created_at >= f AND created_at < t
            UNION SELECT author_id FROM public.posts, bounds WHERE created_at >= f AND created_at < t
            UNION SELECT profile_id FROM public.post_likes, bounds WHERE created_at >= f AND created_at < t) active))
    FROM bounds
$$;

-- Closed days, computed once, the first time they are asked for: a closed day's figures are those
-- it closed with (a post deleted later still counts on its day, as in any daily report).
CREATE TABLE internal.activity_days (
    day date PRIMARY KEY,
    figures jsonb NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE internal.activity_days ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON internal.activity_days FROM PUBLIC, anon, authenticated, service_role;

-- The last `p_days` days, oldest first, today (UTC) live. Fills the closed days not yet stored.
CREATE FUNCTION internal.activity_days_upto_today(p_days integer) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_today date := (now() AT TIME ZONE 'UTC')::date;
BEGIN
    INSERT INTO internal.activity_days (day, figures)
    SELECT d::date, internal.activity_on(d::date)
    FROM generate_series(v_today - (p_days - 1), v_today - 1, interval '1 day') d
    WHERE NOT EXISTS (SELECT 1 FROM internal.activity_days a WHERE a.day = d::date)
    ON CONFLICT (day) DO NOTHING;
    RETURN (
        SELECT jsonb_agg(figures ORDER BY day)
        FROM (SELECT day, figures FROM internal.activity_days WHERE day BETWEEN v_today - (p_days - 1) AND v_today - 1
              UNION ALL SELECT v_today, internal.activity_on(v_today)) days);
END
$$;

-- Counts again from the tables and forgets the stored days: here, and after a bulk load that skipped
-- triggers (`feedfusion seed`), which then asks for the last 90 days once so that the first Overview
-- finds them computed.
CREATE FUNCTION internal.recount_dashboard_figures() RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = ''
AS $$
    DELETE FROM internal.row_totals WHERE relation IN ('users', 'posts');
    INSERT INTO internal.row_totals (relation, n)
    VALUES ('users', (SELECT count(*) FROM auth.users)), ('posts', (SELECT count(*) FROM public.posts));
    DELETE FROM internal.activity_days;
$$;
SELECT internal.recount_dashboard_figures();

CREATE OR REPLACE FUNCTION public.admin_stats() RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_today jsonb;
BEGIN
    PERFORM internal.require_admin('read the statistics');
    v_today := internal.activity_on((now() AT TIME ZONE 'UTC')::date);
    RETURN jsonb_build_object(
        'users', internal.row_total('users'),
        'posts', internal.row_total('posts'),
        'posts_today', v_today -> 'posts',
        'active_users_today', v_today -> 'active_users');
END
$$;

-- Now VOLATILE: it stores the closed days it computed.
CREATE OR REPLACE FUNCTION public.admin_activity(p_days integer) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    PERFORM internal.require_admin('read the statistics');
    IF p_days IS NULL OR p_days NOT BETWEEN 1 AND 90 THEN
        RAISE EXCEPTION 'p_days must be between 1 and 90' USING ERRCODE = '22023';
    END IF;
    RETURN internal.activity_days_upto_today(p_days);
END
$$;

REVOKE ALL ON FUNCTION internal.row_totals_add(), internal.row_totals_reset(), internal.recount_dashboard_figures(),
    internal.row_total(text), internal.activity_on(date), internal.activity_days_upto_today(integer) FROM PUBLIC;
