-- Benchmark data: 500 users, 20,000 posts (mostly public), follows. Run as the superuser.
-- Users come with their profiles through the sign-up trigger.
INSERT INTO auth.users (email, raw_user_meta_data)
SELECT 'bench' || i || '@example.com', jsonb_build_object('username', 'bench_' || i)
FROM generate_series(1, 500) AS i;

INSERT INTO public.posts (author_id, body, visibility, created_at)
SELECT p.id, 'post ' || i || ' by ' || p.username,
       CASE WHEN i % 10 = 0 THEN 'followers' WHEN i % 17 = 0 THEN 'private' ELSE 'public' END,
       now() - (i || ' seconds')::interval
FROM generate_series(1, 20000) AS i
JOIN LATERAL (SELECT id, username FROM public.profiles ORDER BY id OFFSET (i % 500) LIMIT 1) p ON true;

INSERT INTO public.follows (follower_id, followed_profile_id)
SELECT a.id, b.id FROM public.profiles a JOIN public.profiles b ON a.id <> b.id
WHERE (hashtext(a.id::text || b.id::text) % 20) = 0
ON CONFLICT DO NOTHING;

ANALYZE;
