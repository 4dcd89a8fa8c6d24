-- Issue 18: the write path's statements stop being planned anew on every call.
--
-- Measured on the default seed (one connection, warm, idle machine): `create_post` took 2.9 ms, of
-- which 2.0 ms was `internal.feed_rows` answering the one new row — not running its query (0.3 ms)
-- but planning it. Row Level Security expands the query into a tree of policy sub-plans, and for a
-- one-element candidate array PL/pgSQL's plan cache judges each custom plan cheaper than the generic
-- one and never keeps a plan, so every post paid the planner again. Under load, with the cores
-- shared, that was most of the time `create_post` spent in PostgreSQL. With a generic plan kept:
-- 0.39 ms (`create_post` 0.93 ms). The feeds' calls with 20 candidates already settled on the
-- generic plan; forcing it there measured the same.
ALTER FUNCTION internal.feed_rows(internal.feed_candidate[]) SET plan_cache_mode = force_generic_plan;

-- A non-inlined SQL function plans its statement on every call: `like_post`, the mix's most
-- frequent write, spent 0.86 ms of its 1.16 ms planning the insert under the likes policy.
-- PL/pgSQL keeps the plan per connection (0.59 ms). Same statements, same checks.
CREATE OR REPLACE FUNCTION public.like_post(p_post_id uuid) RETURNS void
    LANGUAGE plpgsql
    SET search_path = ''
AS $$
BEGIN
    INSERT INTO public.post_likes (post_id, profile_id) VALUES (p_post_id, internal.require_user('like'))
    ON CONFLICT (post_id, profile_id) DO NOTHING;
END
$$;

CREATE OR REPLACE FUNCTION public.unlike_post(p_post_id uuid) RETURNS void
    LANGUAGE plpgsql
    SET search_path = ''
AS $$
BEGIN
    DELETE FROM public.post_likes WHERE post_id = p_post_id AND profile_id = internal.require_user('unlike');
END
$$;
