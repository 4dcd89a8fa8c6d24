-- Realtime postgres_changes (issue 19): row changes of published tables, delivered to subscribers
-- only when each may select the row under RLS at the time of the change.
--
-- 1. A published table has a row trigger that announces each change on `feedfusion_realtime` (at
--    commit, as every NOTIFY) with its primary key — never the row: the server reads the row as each
--    subscriber, so a payload never carries what its receiver may not see (and NOTIFY's 8 kB limit
--    never truncates a row).
-- 2. Announcing costs a NOTIFY per row write, so a table announces only while some server has a
--    subscriber for it: servers hold a lease in realtime.subscribed_tables, renewed while they do.
-- 3. realtime.visible_rows reads one changed row as many subscribers in one round trip, switching
--    role and claims per subscriber exactly as a request does; one subscriber's failing check never
--    stops the others (Supabase realtime #2093).

CREATE TABLE realtime.subscribed_tables (
    relation regclass PRIMARY KEY,
    until timestamptz NOT NULL
);
ALTER TABLE realtime.subscribed_tables ENABLE ROW LEVEL SECURITY;

CREATE FUNCTION realtime.announce_change() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = ''
AS $$
DECLARE
    v_row jsonb;
    v_pk jsonb := '{}';
    v_column text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM realtime.subscribed_tables s WHERE s.relation = TG_RELID AND s.until > now()) THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN v_row := to_jsonb(OLD); ELSE v_row := to_jsonb(NEW); END IF;
    FOREACH v_column IN ARRAY TG_ARGV LOOP
        v_pk := v_pk || jsonb_build_object(v_column, v_row -> v_column);
    END LOOP;
    PERFORM pg_notify('feedfusion_realtime', jsonb_build_object(
        'schema', TG_TABLE_SCHEMA, 'table', TG_TABLE_NAME, 'type', TG_OP, 'pk', v_pk,
        'at', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text);
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION realtime.announce_change() FROM PUBLIC;

-- Publishes a table (Supabase: ALTER PUBLICATION supabase_realtime ADD TABLE): its row changes
-- may be subscribed to. The trigger is handed the primary key's columns.
CREATE FUNCTION realtime.publish(p_table regclass) RETURNS void
    LANGUAGE plpgsql
    SET search_path = ''
AS $$
DECLARE
    v_columns text;
BEGIN
    SELECT string_agg(quote_literal(a.attname), ', ' ORDER BY k.ordinality) INTO v_columns
    FROM pg_index i
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ordinality)
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indrelid = p_table AND i.indisprimary;
    IF v_columns IS NULL THEN
        RAISE EXCEPTION '% has no primary key: realtime changes name rows by it', p_table;
    END IF;
    EXECUTE format('DROP TRIGGER IF EXISTS realtime_changes ON %s', p_table);
    EXECUTE format('CREATE TRIGGER realtime_changes AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION realtime.announce_change(%s)',
        p_table, v_columns);
END
$$;
REVOKE ALL ON FUNCTION realtime.publish(regclass) FROM PUBLIC;

SELECT realtime.publish('public.posts');
SELECT realtime.publish('public.profiles');
SELECT realtime.publish('public.follows');
SELECT realtime.publish('public.post_likes');

-- For each subscriber's claims (JSON text, as verified by the server), the changed row as that
-- subscriber may select it, or no row. Run by the server's request role, which may become each of
-- the request roles; the settings are the transaction's, as for a request.
CREATE FUNCTION realtime.visible_rows(p_table regclass, p_pk jsonb, p_claims text[])
    RETURNS TABLE (claims_index integer, record jsonb)
    LANGUAGE plpgsql VOLATILE
    SET search_path = ''
AS $$
DECLARE
    v_query text;
    v_claims jsonb;
    v_row jsonb;
BEGIN
    -- Untyped literals take the key columns' types, so the primary key's index is used.
    SELECT format('SELECT to_jsonb(t) FROM %s t WHERE %s', p_table, string_agg(format('t.%I = %L', key, value), ' AND '))
    INTO v_query FROM jsonb_each_text(p_pk);
    FOR i IN 1 .. coalesce(array_length(p_claims, 1), 0) LOOP
        v_row := NULL;
        BEGIN
            v_claims := p_claims[i]::jsonb;
            IF v_claims->>'role' NOT IN ('anon', 'authenticated', 'service_role') THEN
                RAISE EXCEPTION 'role % is not a request role', v_claims->>'role';
            END IF;
            PERFORM set_config('role', v_claims->>'role', true);
            PERFORM set_config('request.jwt.claims', p_claims[i], true);
            PERFORM set_config('request.jwt.claim.sub', coalesce(v_claims->>'sub', ''), true);
            PERFORM set_config('request.jwt.claim.role', v_claims->>'role', true);
            EXECUTE v_query INTO v_row;
        EXCEPTION WHEN OTHERS THEN
            v_row := NULL;
        END;
        IF v_row IS NOT NULL THEN
            claims_index := i;
            record := v_row;
            RETURN NEXT;
        END IF;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION realtime.visible_rows(regclass, jsonb, text[]) FROM PUBLIC;
GRANT USAGE ON SCHEMA realtime TO authenticator;
GRANT EXECUTE ON FUNCTION realtime.visible_rows(regclass, jsonb, text[]) TO authenticator;
