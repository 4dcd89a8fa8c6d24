-- The home feed of a user who follows thousands of profiles: cheap to plan, and cheap under RLS.
--
-- Measured on the seeded set (EXPLAIN ANALYZE, the heaviest follower: 4,224 follows): the
-- "many follows" branch of posts_by_authors executed in about 1 ms but took about 7 ms to plan.
-- PL/pgSQL plans it with the arguments' values (a custom plan), so the 4,224-element array became a
-- constant and the planner estimated `author_id = ANY (…)` element by element against the column's
-- statistics. A generic plan is no way out: it takes the array for a small one and reads the
-- author index for every followed author (two seconds).
--
-- So the shape is fixed by the query instead of by estimates: a subquery that only walks posts
-- newest first below the cursor (OFFSET 0 keeps it from being merged with the outer query, so the
-- author test cannot be pushed into it and make the author index look attractive), filtered by
-- membership in the array, which is handed over as an InitPlan `(SELECT p_authors)` so that the
-- planner never looks inside it. The outer query has no ORDER BY of its own: a filtered scan of an
-- ordered subquery keeps its order, and an outer sort would make the planner plan the subquery for
-- reading every row instead of the first few. Steady state for the heaviest follower: planning
-- and running this part 8.3 → 1.8 ms.
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
            WHERE r.author_id = ANY ((SELECT p_authors)::uuid[])
            LIMIT p_limit;
    END IF;
END
$$;

-- internal.viewer_followed_profiles() runs once per policy use in a feed call (five or six times
-- for a home feed: each source, the rows, the authors). Collecting 4,224 follows from the follows
-- index each time cost the heaviest follower about 0.7 ms a time, which made RLS cost 2.1-2.6x the
-- same feed without it. So every user's accepted profile follows are also kept as one array, read in
-- one row fetch (about 0.1 ms), maintained by a trigger on follows in the same transaction as the
-- follow itself (so it is never out of date for anyone reading it). Not exposed: only the SECURITY
-- DEFINER function reads it.
CREATE TABLE internal.followed_profiles (
    user_id uuid PRIMARY KEY REFERENCES public.profiles (id) ON DELETE CASCADE,
    profiles uuid[] NOT NULL
);
ALTER TABLE internal.followed_profiles ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON internal.followed_profiles FROM PUBLIC, anon, authenticated, service_role;

INSERT INTO internal.followed_profiles (user_id, profiles)
SELECT follower_id, array_agg(followed_profile_id ORDER BY followed_profile_id)
FROM public.follows
WHERE status = 'accepted' AND followed_profile_id IS NOT NULL
GROUP BY follower_id;

-- A follow counts once accepted; a removed (or un-accepted) one stops counting. Concurrent follows by
-- one user serialize on their array's row, and each change re-reads it, so none is lost.
CREATE FUNCTION internal.maintain_followed_profiles() RETURNS trigger
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
        ON CONFLICT (user_id) DO UPDATE
            SET profiles = array_append(array_remove(f.profiles, NEW.followed_profile_id), NEW.followed_profile_id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER follows_maintain_followed_profiles AFTER INSERT OR UPDATE OR DELETE ON public.follows
    FOR EACH ROW EXECUTE FUNCTION internal.maintain_followed_profiles();

CREATE FUNCTION internal.clear_followed_profiles() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    DELETE FROM internal.followed_profiles;
    RETURN NULL;
END
$$;
CREATE TRIGGER follows_truncate_followed_profiles AFTER TRUNCATE ON public.follows
    FOR EACH STATEMENT EXECUTE FUNCTION internal.clear_followed_profiles();

-- PL/pgSQL, like the other viewer helpers: a SQL function that cannot be inlined (SECURITY DEFINER)
-- is planned again in every statement, PL/pgSQL keeps its plan for the session (0.3 ms per home feed).
CREATE OR REPLACE FUNCTION internal.viewer_followed_profiles() RETURNS uuid[]
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = ''
AS $$
BEGIN
    RETURN coalesce((SELECT profiles FROM internal.followed_profiles WHERE user_id = auth.uid()), '{}'::uuid[]);
END
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA internal FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA internal TO anon, authenticated, service_role;
