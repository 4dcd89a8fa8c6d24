-- Access ends with the session (issue 17): a signed access token is honoured only while its session
-- lives and its user is not banned. The server caches that answer and drops it when these triggers
-- announce, on the server's control channel `feedfusion`, a session that ended (sign-out, ban, deleted user: all delete
-- sessions) or a user whose ban or existence changed (for tokens that name no session). NOTIFY is
-- delivered at commit, and not at all on rollback.

-- `<kind>:<id>` of the row that went or changed; the kind is the trigger's argument.
CREATE FUNCTION internal.announce_access_change() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = ''
AS $$
BEGIN
    PERFORM pg_catalog.pg_notify('feedfusion', TG_ARGV[0] || ':' || OLD.id::text);
    RETURN NULL;
END
$$;
-- Nobody needs to call it: a trigger fires without EXECUTE.
REVOKE ALL ON FUNCTION internal.announce_access_change() FROM PUBLIC;

CREATE TRIGGER sessions_announce_end AFTER DELETE ON auth.sessions
    FOR EACH ROW EXECUTE FUNCTION internal.announce_access_change('session');
CREATE TRIGGER users_announce_ban AFTER UPDATE OF banned_until ON auth.users
    FOR EACH ROW WHEN (OLD.banned_until IS DISTINCT FROM NEW.banned_until)
    EXECUTE FUNCTION internal.announce_access_change('user');
CREATE TRIGGER users_announce_delete AFTER DELETE ON auth.users
    FOR EACH ROW EXECUTE FUNCTION internal.announce_access_change('user');
