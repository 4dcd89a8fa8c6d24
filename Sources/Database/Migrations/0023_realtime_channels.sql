-- Realtime (issue 19): who may join a private channel, and who may send on it, is decided by the
-- database, as in Supabase: Row Level Security policies on realtime.messages, read for the topic
-- being joined. A join runs realtime.authorize(topic) as the caller: a probe row for the topic is
-- staged, the caller's SELECT policies say whether it may receive (join), its INSERT policies
-- whether it may send (broadcast, presence), and the probe is rolled back. Policies may use
-- realtime.topic(), as Supabase's do.
CREATE SCHEMA realtime;
GRANT USAGE ON SCHEMA realtime TO anon, authenticated, service_role;

-- Holds no rows between checks: probes live only inside the subtransaction that tests them.
-- RLS is enabled, not forced: the owner stages the probe (clients never see the table but through
-- their policies).
CREATE TABLE realtime.messages (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic text NOT NULL,
    extension text NOT NULL CHECK (extension IN ('broadcast', 'presence')),
    event text,
    payload jsonb,
    private boolean NOT NULL DEFAULT true,
    inserted_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE realtime.messages ENABLE ROW LEVEL SECURITY;
GRANT SELECT, INSERT ON realtime.messages TO authenticated;

-- The topic being authorized (without the client's `realtime:` prefix).
CREATE FUNCTION realtime.topic() RETURNS text
    LANGUAGE sql STABLE
    SET search_path = ''
AS $$ SELECT nullif(current_setting('realtime.topic', true), '') $$;
GRANT EXECUTE ON FUNCTION realtime.topic() TO authenticated;

-- A signed-in user's own channel, `user:<their id>`, is theirs to join and send on (the app's
-- live notifications); an application adds its own policies for other private topics.
CREATE POLICY "own user channel: receive" ON realtime.messages FOR SELECT TO authenticated
    USING (topic = 'user:' || (SELECT auth.uid())::text);
CREATE POLICY "own user channel: send" ON realtime.messages FOR INSERT TO authenticated
    WITH CHECK (topic = 'user:' || (SELECT auth.uid())::text);

-- Stages the probe as the owner (the caller may not insert it: that is what is being asked).
CREATE FUNCTION realtime.stage_probe(p_topic text) RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = ''
AS $$ INSERT INTO realtime.messages (topic, extension, event) VALUES (p_topic, 'broadcast', 'authorization probe') $$;
REVOKE ALL ON FUNCTION realtime.stage_probe(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION realtime.stage_probe(text) TO authenticated;

-- {"read": bool, "write": bool} for the caller on a private topic; leaves nothing behind.
CREATE FUNCTION realtime.authorize(p_topic text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE
    SET search_path = ''
AS $$
DECLARE
    v_read boolean := false;
    v_write boolean := false;
BEGIN
    PERFORM set_config('realtime.topic', p_topic, true);
    BEGIN
        PERFORM realtime.stage_probe(p_topic);
        v_read := EXISTS (SELECT 1 FROM realtime.messages WHERE topic = p_topic AND event = 'authorization probe');
        BEGIN
            INSERT INTO realtime.messages (topic, extension, event) VALUES (p_topic, 'broadcast', 'authorization probe');
            v_write := true;
        EXCEPTION WHEN insufficient_privilege THEN
            v_write := false;
        END;
        -- Undo the probes: the block's changes end with this exception.
        RAISE SQLSTATE 'RTP01';
    EXCEPTION WHEN SQLSTATE 'RTP01' THEN
        NULL;
    END;
    RETURN jsonb_build_object('read', v_read, 'write', v_write);
END
$$;
REVOKE ALL ON FUNCTION realtime.authorize(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION realtime.authorize(text) TO authenticated;
