-- Issue 18: a follow's announcement says the follow's status (`s`), so that the server can correct
-- the follower's kept relations (whom they follow, which decides the pages they may share) in place
-- instead of dropping them.
--
-- Until now every follow or unfollow dropped the follower's relations, and their next profile,
-- entity or nearby read asked PostgreSQL for them again: at 1,000 virtual users that was most of the
-- profile reads that still went to the database (the mix follows or unfollows 3 % of the time, and a
-- follower opens profiles right after). A follow inserted `accepted` adds the profile to the kept
-- relations, an unfollow removes it; an update (a request accepted) still drops them.

CREATE OR REPLACE FUNCTION internal.announce_viewers() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    viewers uuid[];
    f public.follows;
BEGIN
    IF TG_TABLE_NAME = 'follows' THEN
        -- The followed profile sees nothing new: whose posts it sees depends on whom it follows.
        f := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
        PERFORM pg_notify('feedfusion_cache', json_build_object(
            't', 'follow', 'u', f.follower_id, 'a', f.followed_profile_id,
            'e', CASE WHEN f.followed_entity_id IS NULL THEN '{}'::uuid[] ELSE ARRAY[f.followed_entity_id] END,
            'op', TG_OP, 's', f.status)::text);
        RETURN NULL;
    END IF;
    viewers := ARRAY[
        (CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END).blocker_id,
        (CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END).blocked_id];
    PERFORM pg_notify('feedfusion_cache', json_build_object('t', 'viewers', 'v', viewers)::text);
    RETURN NULL;
END
$$;
