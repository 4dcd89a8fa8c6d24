-- Issue 18: an answer the server refuses is refused by the statement that builds it, not after it.
--
-- The Data API caps an answer at DB_MAX_RESPONSE_BYTES (413, PGRST413). Until now the statement
-- withheld an oversized body (NULL) and the server raised 413 after reading the row, which for a
-- write meant the server had to see the answer before it could send COMMIT: one more round trip on
-- every write (`create_post`, likes, table inserts) just in case. Raising here aborts the
-- transaction inside the statement itself, so the server can send the write, its fence and COMMIT
-- together and still never commit a write whose answer it refuses: COMMIT of an aborted transaction
-- rolls back. The SQLSTATE is the server's own (class FF is no standard's); it maps it back to
-- PGRST413 with the size from DETAIL.
--
-- The same for a write asked to answer one object (`Accept: application/vnd.pgrst.object+json`)
-- that wrote more or fewer rows than one: PostgREST answers 406 (PGRST116) and rolls the write
-- back. Until now this server answered 406 after COMMIT, the rows written.
--
-- One function raises both, named by their SQLSTATE (`FF413`, `FF406`), with the size or the row
-- count in DETAIL.
CREATE FUNCTION internal.refuse_answer(p_code text, p_detail bigint) RETURNS text
    LANGUAGE plpgsql
    VOLATILE  -- never folded at plan time: it raises only on the row that needs it
    SET search_path = ''
AS $$
BEGIN
    IF p_code = 'FF413' THEN
        RAISE EXCEPTION 'the answer is too large' USING ERRCODE = 'FF413', DETAIL = p_detail::text;
    END IF;
    RAISE EXCEPTION 'JSON object requested, multiple (or no) rows returned' USING ERRCODE = 'FF406', DETAIL = p_detail::text;
END
$$;

REVOKE ALL ON FUNCTION internal.refuse_answer(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION internal.refuse_answer(text, bigint) TO anon, authenticated, service_role;
