-- What Row Level Security costs a feed, made smaller: the heaviest follower's home feed (4,224
-- follows) cost 2.1-2.9x the same call without RLS. Every policy use in a statement evaluates the
-- caller's identity and relationships once (InitPlans) and then checks each row it reads; three
-- things made that expensive and a fourth did work it need not, measured on the seeded set with
-- scripts/bench-feed and pgbench:
--
-- 1. auth.uid(), auth.role() and auth.jwt() were PL/pgSQL (0008), each call parsing the claims as
--    jsonb, and uid() doing so through jwt(): about 8 us a call, and a home feed calls uid() some
--    forty times (every policy use, every helper). As SQL functions without SET clauses they are
--    inlined into the calling query (no function call, no re-planning), reading the per-claim
--    settings the server sets beside the claims (request.jwt.claim.sub/role, as Supabase's own
--    auth.uid() does), falling back to the claims for callers that set only those.
--    Operators are written OPERATOR(pg_catalog.x): the body is parsed with the caller's search_path.
--
-- 2. "Does the caller follow this author?" was `author_id = ANY (followed)`: a comparison with every
--    element, 4,224 for the heaviest follower, for each followers-only or private-author row a
--    policy checks (the entity source alone checks ~50 of those per page). The followed array is
--    now kept sorted, and the policies binary-search it: width_bucket(x, sorted) counts the
--    elements <= x, so x is in the array exactly when the element at that position is x. The two
--    sub-selects are two InitPlans of one policy use (a sub-select cannot be named and reused).
--
-- 3. viewer_followed_profiles() returned the stored column as it came, a pointer to the ~67 KB
--    value stored out of line (TOAST): every row a policy checked fetched and copied it again.
--    Assigned to a variable first, the value is fetched once per call and the InitPlan keeps it.
--
-- 4. `(SELECT public.is_admin())` came second in each policy's OR, so every policy use that read
--    a row not the caller's own ran it (a query of auth.users). Last, it runs only where a row fails
--    every other rule: most policy uses of a feed never get there.
--
-- Same rules as before (0008): only how the viewer's relationships are looked up, and in which
-- order the alternatives are tried, changed.

CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT coalesce(nullif(pg_catalog.current_setting('request.jwt.claims', true), ''), '{}')::pg_catalog.jsonb
$$;

-- The signed-in user's id, or null (anon, service key, or a `sub` that is not a uuid).
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid
    LANGUAGE sql STABLE
AS $$
    SELECT CASE
        WHEN pg_catalog.current_setting('request.jwt.claim.sub', true)
                OPERATOR(pg_catalog.~*) '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
            THEN pg_catalog.current_setting('request.jwt.claim.sub', true)::pg_catalog.uuid
        WHEN (nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::pg_catalog.jsonb OPERATOR(pg_catalog.->>) 'sub')
                OPERATOR(pg_catalog.~*) '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
            THEN (pg_catalog.current_setting('request.jwt.claims', true)::pg_catalog.jsonb OPERATOR(pg_catalog.->>) 'sub')::pg_catalog.uuid
    END
$$;

CREATE OR REPLACE FUNCTION auth.role() RETURNS text
    LANGUAGE sql STABLE
AS $$
    SELECT coalesce(
        nullif(pg_catalog.current_setting('request.jwt.claim.role', true), ''),
        nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::pg_catalog.jsonb OPERATOR(pg_catalog.->>) 'role')
$$;

-- Every followed-profiles array in ascending order from now on (the trigger of 0013 appended).
UPDATE internal.followed_profiles
SET profiles = ARRAY(SELECT DISTINCT p FROM unnest(profiles) AS p ORDER BY p)
WHERE profiles <> ARRAY(SELECT DISTINCT p FROM unnest(profiles) AS p ORDER BY p);

-- `p_profile` put into the sorted array `p_sorted` at its place (unchanged when already there):
-- an array copy, no sort.
CREATE FUNCTION internal.sorted_insert(p_sorted uuid[], p_profile uuid) RETURNS uuid[]
    LANGUAGE plpgsql IMMUTABLE
    SET search_path = ''
AS $$
DECLARE
    v_at int := width_bucket(p_profile, p_sorted);  -- how many elements are <= p_profile
BEGIN
    IF v_at > 0 AND p_sorted[v_at] = p_profile THEN
        RETURN p_sorted;
    END IF;
    RETURN p_sorted[1:v_at] || p_profile || p_sorted[v_at + 1:cardinality(p_sorted)];
END
$$;

CREATE OR REPLACE FUNCTION internal.maintain_followed_profiles() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.status = 'accepted' AND OLD.followed_profile_id IS NOT NULL THEN
        UPDATE internal.followed_profiles SET profiles = array_remove(profiles, OLD.followed_profile_id)
        WHERE user_id = OLD.follower_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.status = 'accepted' AND NEW.followed_profile_id IS NOT NULL THEN
        INSERT INTO internal.followed_profiles AS f (user_id, profiles) VALUES (NEW.follower_id, ARRAY[NEW.followed_profile_id])
        ON CONFLICT (user_id) DO UPDATE SET profiles = internal.sorted_insert(f.profiles, NEW.followed_profile_id);
    END IF;
    RETURN NULL;
END
$$;

-- The caller's accepted profile follows, in ascending order (what the binary searches need).
CREATE OR REPLACE FUNCTION internal.viewer_followed_profiles() RETURNS uuid[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_profiles uuid[];
BEGIN
    -- Into a variable, not returned as read: see 3. above.
    v_profiles := (SELECT profiles FROM internal.followed_profiles WHERE user_id = auth.uid());
    RETURN coalesce(v_profiles, '{}'::uuid[]);
END
$$;

-- The rules of 0008, with the followed test as a binary search and the admin test last.
DROP POLICY profiles_read ON public.profiles;
CREATE POLICY profiles_read ON public.profiles FOR SELECT TO anon, authenticated
    USING (
        id = (SELECT auth.uid())
        OR (
            id <> ALL ((SELECT internal.viewer_blocked_by())::uuid[])
            AND (NOT is_private
                 OR (SELECT internal.viewer_followed_profiles())[width_bucket(id, (SELECT internal.viewer_followed_profiles()))] = id)
        )
        OR (SELECT public.is_admin())
    );

DROP POLICY posts_read ON public.posts;
CREATE POLICY posts_read ON public.posts FOR SELECT TO anon, authenticated
    USING (
        author_id = (SELECT auth.uid())
        OR (
            author_id <> ALL ((SELECT internal.viewer_block_partners())::uuid[])
            AND (
                (visibility = 'public' AND NOT author_private)
                OR (visibility <> 'private'
                    AND (SELECT internal.viewer_followed_profiles())[width_bucket(author_id, (SELECT internal.viewer_followed_profiles()))] = author_id)
            )
        )
        OR (SELECT public.is_admin())
    );

DROP POLICY post_targets_read ON public.post_targets;
CREATE POLICY post_targets_read ON public.post_targets FOR SELECT TO anon, authenticated
    USING (
        post_author_id = (SELECT auth.uid())
        OR (
            post_author_id <> ALL ((SELECT internal.viewer_block_partners())::uuid[])
            AND (
                (post_visibility = 'public' AND NOT post_author_private)
                OR (post_visibility <> 'private'
                    AND (SELECT internal.viewer_followed_profiles())[width_bucket(post_author_id, (SELECT internal.viewer_followed_profiles()))] = post_author_id)
            )
        )
        OR (SELECT public.is_admin())
    );

-- The home feed's "following" source (0013), its many-follows branch binary-searching the authors
-- too: p_authors comes sorted from viewer_followed_profiles(). (The <= 100 branch is unchanged.)
CREATE OR REPLACE FUNCTION internal.posts_by_authors(p_authors uuid[], p_at timestamptz, p_id uuid, p_limit int)
    RETURNS TABLE (id uuid, created_at timestamptz)
    LANGUAGE plpgsql STABLE
    SET search_path = ''
AS $$
BEGIN
    IF cardinality(p_authors) <= 100 THEN
        RETURN QUERY SELECT f.id, f.created_at FROM unnest(p_authors) AS a(author_id)
            CROSS JOIN LATERAL (
                SELECT p.id, p.created_at FROM public.posts p
                WHERE p.author_id = a.author_id AND (p.created_at, p.id) < (p_at, p_id)
                ORDER BY p.created_at DESC, p.id DESC LIMIT p_limit) f
            ORDER BY f.created_at DESC, f.id DESC LIMIT p_limit;
    ELSE
        RETURN QUERY SELECT r.id, r.created_at FROM (
                SELECT p.id, p.created_at, p.author_id FROM public.posts p
                WHERE (p.created_at, p.id) < (p_at, p_id)
                ORDER BY p.created_at DESC, p.id DESC
                OFFSET 0) r
            WHERE (SELECT p_authors)[width_bucket(r.author_id, (SELECT p_authors))] = r.author_id
            LIMIT p_limit;
    END IF;
END
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA internal FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA internal TO anon, authenticated, service_role;
