import Database
import Testing

@Suite("Splitting SQL scripts into statements")
struct SQLScriptTests {
    @Test("semicolons split only at the top level")
    func quotingIsRespected() {
        let script = """
            -- a comment; with a semicolon
            CREATE TABLE t (a text DEFAULT 'x;y', "odd;name" int);
            CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;
            CREATE FUNCTION g() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN RETURN 2; END $body$;
            /* block; comment */ SELECT 'it''s; fine';
            SELECT $1;
            """
        let statements = SQLScript.statements(in: script)
        #expect(statements.count == 5)
        #expect(statements[0].hasSuffix(#""odd;name" int)"#))
        #expect(statements[1].contains("SELECT 1; $$"))
        #expect(statements[2].contains("RETURN 2; END $body$"))
        #expect(statements[3].contains("'it''s; fine'"))
        #expect(statements[4] == "SELECT $1")
    }

    @Test("a script of only comments has no statements")
    func onlyComments() {
        #expect(SQLScript.statements(in: "-- nothing here;\n-- at all\n").isEmpty)
    }
}
