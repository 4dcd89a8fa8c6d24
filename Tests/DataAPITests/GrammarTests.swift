@testable import DataAPI
import Testing

@Suite("Query grammar")
struct GrammarTests {
    @Test("select items", arguments: [
        ("*", [SelectItem.star]),
        ("id,body", [.column(name: "id", alias: nil, cast: nil), .column(name: "body", alias: nil, cast: nil)]),
        ("text:body", [.column(name: "body", alias: "text", cast: nil)]),
        ("created_at::text", [.column(name: "created_at", alias: nil, cast: "text")]),
        ("when:created_at::text", [.column(name: "created_at", alias: "when", cast: "text")]),
        ("\"odd,name\"", [.column(name: "odd,name", alias: nil, cast: nil)]),
        ("*,author:profiles(username,avatar_url)", [
            .star,
            .embed(Embed(target: "profiles", alias: "author", hint: nil, inner: false, items: [
                .column(name: "username", alias: nil, cast: nil), .column(name: "avatar_url", alias: nil, cast: nil),
            ])),
        ]),
        ("post_targets!inner(*)", [.embed(Embed(target: "post_targets", alias: nil, hint: nil, inner: true, items: [.star]))]),
        ("p:profiles!posts_author_id_fkey!inner()", [
            .embed(Embed(target: "profiles", alias: "p", hint: "posts_author_id_fkey", inner: true, items: [.star])),
        ]),
    ])
    func select(_ text: String, _ expected: [SelectItem]) throws {
        #expect(try SelectParser.parse(text) == expected)
    }

    @Test("malformed select is PGRST100 material", arguments: [
        "id,,body", "author:profiles(username", "a(b))", "x::int;drop", "body->>x", "\"unclosed", "a(b(c(d(e(f)))))",
        "p:profiles!a!b(*)", "bad name;",
    ])
    func badSelect(_ text: String) {
        #expect(throws: GrammarError.self) { try SelectParser.parse(text) }
    }

    @Test("every operator", arguments: FilterOperator.allCases.filter { $0 != .in && $0 != .is })
    func operators(_ op: FilterOperator) throws {
        let filter = try FilterParser.parse(key: "body", value: "\(op.rawValue).some value")
        #expect(filter == ScopedFilter(path: [], tree: .condition(
            Condition(column: "body", negated: false, op: op, language: nil, value: .single("some value")))))
        let negated = try FilterParser.parse(key: "body", value: "not.\(op.rawValue).x")
        guard case .condition(let condition) = negated.tree else { Issue.record("not a condition"); return }
        #expect(condition.negated)
    }

    @Test("values: in lists with quoting, is keywords, text search languages, embedded paths")
    func values() throws {
        let list = try FilterParser.parse(key: "id", value: #"in.(1,"a,b",  c ,"say \"hi\"")"#)
        #expect(list.tree == .condition(Condition(column: "id", negated: false, op: .in, language: nil, value: .list(["1", "a,b", "c", #"say "hi""#]))))
        #expect(try FilterParser.parse(key: "id", value: "in.()").tree
            == .condition(Condition(column: "id", negated: false, op: .in, language: nil, value: .list([]))))
        #expect(try FilterParser.parse(key: "deleted", value: "is.NULL").tree
            == .condition(Condition(column: "deleted", negated: false, op: .is, language: nil, value: .single("null"))))
        #expect(try FilterParser.parse(key: "body", value: "fts(english).cat & dog").tree
            == .condition(Condition(column: "body", negated: false, op: .fts, language: "english", value: .single("cat & dog"))))
        let embedded = try FilterParser.parse(key: "author.username", value: "eq.ann")
        #expect(embedded.path == ["author"])
        #expect(try FilterParser.parse(key: "body", value: "eq.a.b.c").tree
            == .condition(Condition(column: "body", negated: false, op: .eq, language: nil, value: .single("a.b.c"))))
    }

    @Test("logic trees nest, negate and scope")
    func logic() throws {
        let tree = try FilterParser.parse(key: "or", value: "(a.eq.1,and(b.gt.2,c.is.null),not.or(d.like.*x*,e.not.eq.5))")
        let a = LogicTree.condition(Condition(column: "a", negated: false, op: .eq, language: nil, value: .single("1")))
        let b = LogicTree.condition(Condition(column: "b", negated: false, op: .gt, language: nil, value: .single("2")))
        let c = LogicTree.condition(Condition(column: "c", negated: false, op: .is, language: nil, value: .single("null")))
        let d = LogicTree.condition(Condition(column: "d", negated: false, op: .like, language: nil, value: .single("*x*")))
        let e = LogicTree.condition(Condition(column: "e", negated: true, op: .eq, language: nil, value: .single("5")))
        #expect(tree == ScopedFilter(path: [], tree: .or([a, .and([b, c], negated: false), .or([d, e], negated: true)], negated: false)))
        let scoped = try FilterParser.parse(key: "author.not.and", value: "(a.eq.1,b.eq.2)")
        #expect(scoped.path == ["author"])
        guard case .and(_, let negated) = scoped.tree else { Issue.record("expected and"); return }
        #expect(negated)
    }

    @Test("malformed filters", arguments: [
        ("id", "eq"), ("id", "equals.1"), ("id", "in.1,2"), ("id", "is.maybe"), ("or", "a.eq.1"), ("or", "(a.eq.1"),
        ("or", "()"), ("or", "(a)"), ("id", "eq(english).x"), ("bad;col", "eq.1"), ("a..b", "eq.1"), ("or", "(a.eq.1))"),
    ])
    func badFilters(_ key: String, _ value: String) {
        #expect(throws: GrammarError.self) { try FilterParser.parse(key: key, value: value) }
    }

    @Test("logic depth and in-list length are bounded")
    func bounds() throws {
        let deep = String(repeating: "and(", count: 20) + "a.eq.1" + String(repeating: ")", count: 20)
        #expect(throws: GrammarError.self) { try FilterParser.parse(key: "or", value: "(\(deep))") }
        let manyValues = (0..<10_000).map(String.init).joined(separator: ",")
        if case .condition(let condition) = try FilterParser.parse(key: "id", value: "in.(\(manyValues))").tree,
            case .list(let values) = condition.value
        {
            #expect(values.count == 10_000)
        } else {
            Issue.record("expected a list")
        }
        #expect(throws: GrammarError.self) { try FilterParser.parse(key: "id", value: "in.(\(manyValues),10000)") }
    }

    @Test("order terms")
    func order() throws {
        #expect(try OrderParser.parse("created_at.desc.nullslast,id") == [
            OrderTerm(column: "created_at", ascending: false, nulls: .last), OrderTerm(column: "id", ascending: true, nulls: nil),
        ])
        #expect(try OrderParser.parse("") == [])
        #expect(throws: GrammarError.self) { try OrderParser.parse("id.sideways") }
        #expect(throws: GrammarError.self) { try OrderParser.parse("id;drop table posts") }
    }
}
