-- Read-your-writes through the feed cache: the server ends a write transaction with one more NOTIFY
-- on feedfusion_cache (a fence) and answers once its listener has handled it, so the invalidations
-- the write announced (0011) are applied by then. Only transactions that wrote to a table whose
-- triggers announce anything need the fence; this mark tells the server so, and a write elsewhere
-- (telemetry, auth) answers without waiting.
--
-- Statement-level, so one mark per statement whatever its row count. It may mark a statement whose
-- row triggers announced nothing (no row changed, a profile column no feed shows): that costs only
-- a fence that comes straight back. A subtransaction rolled back takes its mark with it, as it does
-- its notifications.

CREATE FUNCTION internal.mark_cache_announced() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = ''
AS $$
BEGIN
    PERFORM pg_catalog.set_config('feedfusion.cache_announced', 'on', true);
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION internal.mark_cache_announced() FROM PUBLIC;

CREATE TRIGGER posts_mark_announced AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON public.posts
    FOR EACH STATEMENT EXECUTE FUNCTION internal.mark_cache_announced();
CREATE TRIGGER post_targets_mark_announced AFTER INSERT OR DELETE ON public.post_targets
    FOR EACH STATEMENT EXECUTE FUNCTION internal.mark_cache_announced();
CREATE TRIGGER follows_mark_announced AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON public.follows
    FOR EACH STATEMENT EXECUTE FUNCTION internal.mark_cache_announced();
CREATE TRIGGER blocks_mark_announced AFTER INSERT OR DELETE OR TRUNCATE ON public.blocks
    FOR EACH STATEMENT EXECUTE FUNCTION internal.mark_cache_announced();
CREATE TRIGGER profiles_mark_announced AFTER UPDATE ON public.profiles
    FOR EACH STATEMENT EXECUTE FUNCTION internal.mark_cache_announced();
CREATE TRIGGER entities_mark_announced AFTER UPDATE OR DELETE ON public.entities
    FOR EACH STATEMENT EXECUTE FUNCTION internal.mark_cache_announced();
