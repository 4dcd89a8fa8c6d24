-- Reporting posts, and the moderation queue (issue 20). A signed-in user reports a post they can
-- see, once per post (a second report replaces their first), at most 20 an hour — the same rules
-- whether through the `report_post` RPC or a table insert on /rest/v1. Admins see the queue (posts by
-- open reports), resolve it (dismiss, or remove the post), browse the newest posts, and ask why a post
-- is in someone's home feed.

CREATE TABLE public.post_reports (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    post_id uuid NOT NULL REFERENCES public.posts (id) ON DELETE CASCADE,
    reporter_id uuid NOT NULL DEFAULT auth.uid() REFERENCES public.profiles (id) ON DELETE CASCADE,
    reason text NOT NULL CHECK (reason IN ('spam', 'abuse', 'harassment', 'illegal', 'other')),
    note text CHECK (char_length(note) <= 500),
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Set when an admin resolves the post's reports: `dismissed`, or `removed` with the post (then
    -- the row goes with the post; the audit log keeps the decision).
    resolved_at timestamptz,
    resolution text CHECK (resolution IN ('dismissed', 'removed')),
    CONSTRAINT post_reports_once UNIQUE (post_id, reporter_id)
);
-- The queue reads open reports by post.
CREATE INDEX post_reports_open_idx ON public.post_reports (post_id) WHERE resolved_at IS NULL;
CREATE INDEX post_reports_reporter_idx ON public.post_reports (reporter_id, created_at DESC);
ALTER TABLE public.post_reports ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.post_reports FORCE ROW LEVEL SECURITY;

-- A reporter sees their own reports; admins see all. Reports are made only about a post the
-- reporter can read (the posts policy decides, inside the check), in their own name, unresolved.
CREATE POLICY post_reports_read ON public.post_reports FOR SELECT TO authenticated
    USING (reporter_id = (SELECT auth.uid()) OR (SELECT public.is_admin()));
CREATE POLICY post_reports_write ON public.post_reports FOR INSERT TO authenticated
    WITH CHECK (reporter_id = (SELECT auth.uid()) AND resolved_at IS NULL AND resolution IS NULL
                AND EXISTS (SELECT 1 FROM public.posts p WHERE p.id = post_id));
REVOKE ALL ON public.post_reports FROM PUBLIC, anon, authenticated;
GRANT SELECT ON public.post_reports TO authenticated;
GRANT INSERT (post_id, reason, note) ON public.post_reports TO authenticated;
GRANT ALL ON public.post_reports TO service_role;

-- The hourly cap, on every path a client writes (as posts' in 0017).
INSERT INTO internal.settings (name, value) VALUES ('reports_per_hour', '20') ON CONFLICT (name) DO NOTHING;
CREATE FUNCTION internal.count_client_report() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_cap int := coalesce((SELECT value::int FROM internal.settings WHERE name = 'reports_per_hour'), 20);
BEGIN
    IF pg_catalog.current_setting('role') IN ('anon', 'authenticated')
       AND NOT internal.check_rate_limit('report_post:' || NEW.reporter_id, v_cap, 3600) THEN
        RAISE EXCEPTION 'too many reports: at most % per hour', v_cap USING ERRCODE = 'PT429';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER post_reports_count_client_report BEFORE INSERT ON public.post_reports
    FOR EACH ROW EXECUTE FUNCTION internal.count_client_report();
REVOKE ALL ON FUNCTION internal.count_client_report() FROM PUBLIC;

-- Reports a post: as the caller (the table's policy and cap apply). Reporting again replaces the
-- reason and note of one's open report. Returns the report.
CREATE FUNCTION public.report_post(p_post_id uuid, p_reason text, p_note text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER
    SET search_path = ''
AS $$
DECLARE
    v_me uuid := internal.require_user('report a post');  -- signed in, or 42501
    v_report public.post_reports;
BEGIN
    IF p_reason IS NULL OR p_reason NOT IN ('spam', 'abuse', 'harassment', 'illegal', 'other') THEN
        RAISE EXCEPTION 'p_reason must be spam, abuse, harassment, illegal or other' USING ERRCODE = '22023';
    END IF;
    IF char_length(p_note) > 500 THEN
        RAISE EXCEPTION 'p_note has at most 500 characters' USING ERRCODE = '22023';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM public.posts WHERE id = p_post_id) THEN
        RAISE EXCEPTION 'no post % that you can see', p_post_id USING ERRCODE = '22023';
    END IF;
    -- reporter_id is the column's default, auth.uid(): the caller may not write it.
    INSERT INTO public.post_reports (post_id, reason, note) VALUES (p_post_id, p_reason, p_note)
    ON CONFLICT ON CONSTRAINT post_reports_once DO UPDATE SET reason = excluded.reason, note = excluded.note, created_at = now()
        WHERE public.post_reports.resolved_at IS NULL
    RETURNING * INTO v_report;
    IF v_report.id IS NULL THEN
        RAISE EXCEPTION 'your report of this post was already resolved' USING ERRCODE = '22023';
    END IF;
    RETURN jsonb_build_object('id', v_report.id, 'post_id', v_report.post_id, 'reason', v_report.reason,
                              'note', v_report.note, 'created_at', v_report.created_at);
END
$$;
-- The ON CONFLICT update needs UPDATE on those columns for one's own open report.
GRANT UPDATE (reason, note, created_at) ON public.post_reports TO authenticated;
CREATE POLICY post_reports_revise ON public.post_reports FOR UPDATE TO authenticated
    USING (reporter_id = (SELECT auth.uid()) AND resolved_at IS NULL)
    WITH CHECK (reporter_id = (SELECT auth.uid()) AND resolved_at IS NULL);

-- A post as moderation lists it.
CREATE FUNCTION internal.moderation_post(p public.posts) RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
    SELECT jsonb_build_object('id', p.id, 'body', p.body, 'visibility', p.visibility, 'created_at', p.created_at,
        'like_count', p.like_count, 'author_id', p.author_id, 'author_username', a.username, 'author_email', u.email,
        'open_reports', (SELECT count(*) FROM public.post_reports r WHERE r.post_id = p.id AND r.resolved_at IS NULL))
    FROM (SELECT 1) one LEFT JOIN public.profiles a ON a.id = p.author_id LEFT JOIN auth.users u ON u.id = p.author_id
$$;
REVOKE ALL ON FUNCTION internal.moderation_post(public.posts) FROM PUBLIC;

-- The queue: posts with open reports, most reported first, each with its reasons counted and its
-- latest notes.
CREATE FUNCTION public.admin_report_queue(p_limit integer, p_offset integer) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    PERFORM internal.require_admin('read the moderation queue');
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 100 OR p_offset IS NULL OR p_offset NOT BETWEEN 0 AND 100000 THEN
        RAISE EXCEPTION 'p_limit must be 1 to 100 and p_offset 0 to 100000' USING ERRCODE = '22023';
    END IF;
    RETURN jsonb_build_object(
        'total', (SELECT count(DISTINCT post_id) FROM public.post_reports WHERE resolved_at IS NULL),
        'posts', coalesce((
            SELECT jsonb_agg(internal.moderation_post(p) || jsonb_build_object(
                       'reasons', q.reasons, 'latest_report_at', q.latest, 'notes', q.notes) ORDER BY q.reports DESC, q.latest DESC, p.id)
            FROM (
                SELECT r.post_id, count(*) AS reports, max(r.created_at) AS latest,
                       (SELECT jsonb_object_agg(reason, n) FROM (SELECT reason, count(*) AS n FROM public.post_reports x
                         WHERE x.post_id = r.post_id AND x.resolved_at IS NULL GROUP BY reason) c) AS reasons,
                       (SELECT coalesce(jsonb_agg(note ORDER BY created_at DESC), '[]'::jsonb) FROM (SELECT note, created_at FROM public.post_reports x
                         WHERE x.post_id = r.post_id AND x.resolved_at IS NULL AND note IS NOT NULL ORDER BY created_at DESC LIMIT 3) n) AS notes
                FROM public.post_reports r WHERE r.resolved_at IS NULL
                GROUP BY r.post_id
                ORDER BY count(*) DESC, max(r.created_at) DESC, r.post_id
                LIMIT p_limit OFFSET p_offset) q
            JOIN public.posts p ON p.id = q.post_id), '[]'::jsonb));
END
$$;

-- Resolves a post's open reports: `dismissed` keeps the post; `removed` deletes it (and so its
-- reports). Logged either way. Returns how many reports it resolved.
CREATE FUNCTION public.admin_resolve_reports(p_post_id uuid, p_resolution text) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_admin uuid := internal.require_admin('resolve reports');
    v_count integer;
    v_author uuid;
BEGIN
    IF p_resolution IS NULL OR p_resolution NOT IN ('dismissed', 'removed') THEN
        RAISE EXCEPTION 'p_resolution must be dismissed or removed' USING ERRCODE = '22023';
    END IF;
    SELECT count(*) INTO v_count FROM public.post_reports WHERE post_id = p_post_id AND resolved_at IS NULL;
    SELECT author_id INTO v_author FROM public.posts WHERE id = p_post_id;
    IF p_resolution = 'removed' THEN
        DELETE FROM public.posts WHERE id = p_post_id;
    ELSE
        UPDATE public.post_reports SET resolved_at = now(), resolution = 'dismissed' WHERE post_id = p_post_id AND resolved_at IS NULL;
    END IF;
    PERFORM internal.audit(v_admin, 'resolve_reports', v_author,
                           jsonb_build_object('post', p_post_id, 'resolution', p_resolution, 'reports', v_count));
    RETURN v_count;
END
$$;

-- The newest posts, a page at a time (`p_before`: the created_at of the last one shown).
CREATE FUNCTION public.admin_recent_posts(p_limit integer, p_before timestamptz) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    PERFORM internal.require_admin('browse posts');
    IF p_limit IS NULL OR p_limit NOT BETWEEN 1 AND 100 THEN
        RAISE EXCEPTION 'p_limit must be 1 to 100' USING ERRCODE = '22023';
    END IF;
    RETURN coalesce((
        SELECT jsonb_agg(internal.moderation_post(p) ORDER BY p.created_at DESC, p.id)
        FROM (SELECT * FROM public.posts WHERE p_before IS NULL OR created_at < p_before ORDER BY created_at DESC, id LIMIT p_limit) p),
        '[]'::jsonb);
END
$$;

-- Why a post is (or is not) in a user's home feed: its reasons there, as the home fan-out decides
-- them under the feed's visibility rules (internal.home_fanout, held to RLS by HomeFanoutTests).
CREATE FUNCTION public.admin_post_reasons(p_post_id uuid, p_viewer uuid) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_item jsonb;
BEGIN
    PERFORM internal.require_admin('inspect feeds');
    IF NOT EXISTS (SELECT 1 FROM public.posts WHERE id = p_post_id) THEN
        RETURN jsonb_build_object('post_exists', false);
    END IF;
    SELECT f.item::jsonb INTO v_item FROM internal.home_fanout(p_post_id, ARRAY[p_viewer]) f;
    RETURN jsonb_build_object('post_exists', true, 'viewer_exists', EXISTS (SELECT 1 FROM auth.users WHERE id = p_viewer),
                              'in_home', v_item IS NOT NULL, 'reasons', coalesce(v_item -> 'reasons', '[]'::jsonb));
END
$$;

REVOKE ALL ON FUNCTION public.report_post(uuid, text, text), public.admin_report_queue(integer, integer),
    public.admin_resolve_reports(uuid, text), public.admin_recent_posts(integer, timestamptz), public.admin_post_reasons(uuid, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION public.report_post(uuid, text, text) TO authenticated;
GRANT EXECUTE ON FUNCTION public.admin_report_queue(integer, integer), public.admin_resolve_reports(uuid, text),
    public.admin_recent_posts(integer, timestamptz), public.admin_post_reasons(uuid, uuid) TO anon, authenticated, service_role;
