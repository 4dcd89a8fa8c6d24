import AppConfig
import Foundation
import HTTPTypes
import PostgresNIO
import Testing
import TestSupport

/// The findings of issue 17, each reproduced as it was reported and refused as it must be.
@Suite("Hardening: the reported attacks")
struct HardeningTests {
    /// Finding 1: a cast was pasted into the SQL, so `select=` with the anon key read the catalog.
    @Test("a cast names a catalog type or is 400 PGRST100; aliases never become SQL")
    func castInjection() async throws {
        try await RestWorld.run { (rest: RestTestClient, w: RestWorld, _) async throws in
            let attacks = [
                "username::name AS x FROM profiles AS t0 WHERE false UNION ALL SELECT session_user UNION ALL SELECT rolname FROM pg_roles UNION ALL SELECT username",
                "username::text FROM pg_stat_user_tables CROSS JOIN pg_class",
                "username::regclass", "username::pg_catalog.text", "username::nosuchtype", "username::int[][]",
            ]
            for attack in attacks {
                let encoded = attack.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                let reply = try await rest.get("/profiles?select=\(encoded)")
                #expect(reply.status == .badRequest, "\(attack) → \(reply.status)")
                #expect(reply.code == "PGRST100")
                #expect(!String(decoding: reply.body, as: UTF8.self).contains("postgres\""))
            }
            // The same grammar shapes a write's representation and an RPC's rows.
            let alice = rest.callAs(try await RestTestClient.token(for: w.a))
            let written = try await alice.send(
                .post, "/posts?select=id::text%20FROM%20pg_roles", json: ["author_id": w.a.uuidString, "body": "hi"],
                headers: ["Prefer": "return=representation"])
            #expect(written.status == .badRequest)

            // Real casts still work, by any spelling of the type, and an alias is only a key.
            let cast = try await alice.get(
                "/posts?select=n:like_count::text,at:created_at::timestamp%20with%20time%20zone,big:like_count::BIGINT,ids:id::uuid&id=eq.\(w.publicPost)")
            #expect(cast.status == .ok)
            #expect(cast.rows.first?["n"] as? String == "0")
            #expect(cast.rows.first?["big"] as? Int == 0)
            let oddAlias = "\"x' FROM pg_roles; --\"".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let aliased = try await alice.get("/posts?select=\(oddAlias):body&id=eq.\(w.publicPost)")
            #expect(aliased.status == .ok)
            #expect(aliased.rows.first?["x' FROM pg_roles; --"] as? String == "a-public")
        }
    }

    /// Finding 9: to-many embeds were unbounded; an answer of any size was built and sent.
    @Test("to-many embeds are capped at DB_MAX_ROWS and an oversized answer is 413")
    func answerCaps() async throws {
        try await RestWorld.run(configure: {
            $0.maxRows = 2
            $0.maxResponseBytes = 1024
        }) { (rest: RestTestClient, w: RestWorld, _) async throws in
            let alice = rest.callAs(try await RestTestClient.token(for: w.a))
            let authors = try await alice.get("/profiles?select=username,posts(body)&id=eq.\(w.a)")
            #expect(authors.status == .ok)
            #expect((authors.rows.first?["posts"] as? [Any])?.count == 2)
            let big = try await alice.get("/posts?select=a:body,b:body,c:body,d:body,e:body,author:profiles(*,posts(*))")
            #expect(big.status == .contentTooLarge, "\(big.status) \(String(decoding: big.body.prefix(300), as: UTF8.self))")
            #expect(big.code == "PGRST413")
            #expect(big.object.keys.sorted() == ["code", "details", "hint", "message"])
        }
    }

    /// A write's statement, fence and COMMIT go to PostgreSQL together (`runWrite`): what refuses the
    /// answer must refuse it in the statement, or the write would commit with a 413 or 406 answered.
    @Test("a write whose answer is refused (413 too large, 406 not one object) stores nothing")
    func refusedAnswersRollBack() async throws {
        try await RestWorld.run(configure: { $0.maxResponseBytes = 1024 }) { (rest: RestTestClient, w: RestWorld, database: TestDatabase) async throws in
            func stored(_ sql: String) async throws -> Int {
                try await database.withClient { client in
                    try await client.query(PostgresQuery(unsafeSQL: sql)).collect().first!.decode(Int.self)
                }
            }
            let postsBefore = try await stored("SELECT count(*)::int FROM public.posts")
            let alice = rest.callAs(try await RestTestClient.token(for: w.a))
            let long = String(repeating: "a long post ", count: 150)  // 1,800 characters: its answer passes 1,024 bytes
            let viaTable = try await alice.send(
                .post, "/posts", json: ["author_id": w.a.uuidString, "body": long], headers: ["Prefer": "return=representation"])
            #expect(viaTable.status == .contentTooLarge, "\(viaTable.status)")
            #expect(viaTable.code == "PGRST413")
            #expect((viaTable.object["details"] as? String)?.contains("1024") == true)
            let viaRPC = try await alice.send(.post, "/rpc/create_post", json: ["p_body": long])
            #expect(viaRPC.status == .contentTooLarge, "\(viaRPC.status)")
            #expect(viaRPC.code == "PGRST413")
            #expect(try await stored("SELECT count(*)::int FROM public.posts") == postsBefore)
            // Without the representation the same post is stored (it is the answer that was refused).
            let quiet = try await alice.send(.post, "/posts", json: ["author_id": w.a.uuidString, "body": long])
            #expect(quiet.status == .created)
            #expect(try await stored("SELECT count(*)::int FROM public.posts") == postsBefore + 1)

            // One object asked for, two rows written: 406 and neither row stays (PostgREST rolls back).
            let object = ["Prefer": "return=representation", "Accept": "application/vnd.pgrst.object+json"]
            let two = try await alice.send(
                .post, "/posts", json: [["author_id": w.a.uuidString, "body": "one"], ["author_id": w.a.uuidString, "body": "two"]],
                headers: object)
            #expect(two.status == .notAcceptable, "\(two.status)")
            #expect(two.code == "PGRST116")
            #expect(two.object["details"] as? String == "The result contains 2 rows")
            #expect(try await stored("SELECT count(*)::int FROM public.posts") == postsBefore + 1)
            let renamed = try await alice.send(.patch, "/posts?author_id=eq.\(w.a)", json: ["body": "renamed"], headers: object)
            #expect(renamed.status == .notAcceptable, "\(renamed.status)")
            #expect(try await stored("SELECT count(*)::int FROM public.posts WHERE body = 'renamed'") == 0)
            // Exactly one row: written and answered as an object.
            let one = try await alice.send(.post, "/posts", json: ["author_id": w.a.uuidString, "body": "just one"], headers: object)
            #expect(one.status == .created, "\(one.status)")
            #expect(one.object["body"] as? String == "just one")
        }
    }

    /// Finding 3: the table path skipped create_post's rules; a 2,000-row array of blank posts was 201.
    @Test("body, hourly cap and target cap hold on table writes, bulk arrays and the RPC")
    func postRulesOnEveryPath() async throws {
        try await RestWorld.run { (rest: RestTestClient, w: RestWorld, database: TestDatabase) async throws in
            func postCount() async throws -> Int {
                try await database.withClient { client in
                    try await client.query("SELECT count(*)::int FROM public.posts").collect().first!.decode(Int.self)
                }
            }
            let before = try await postCount()
            let carol = rest.callAs(try await RestTestClient.token(for: w.c))
            let me = w.c.uuidString
            let blank = (0..<2000).map { _ in ["author_id": me, "body": " "] }
            let blankReply = try await carol.send(.post, "/posts", json: blank)
            #expect(blankReply.status == .badRequest, "\(blankReply.status)")
            #expect(blankReply.code == "23514")
            let newlines = try await carol.send(.post, "/posts", json: ["author_id": me, "body": "\n\t "])
            #expect(newlines.status == .badRequest)
            let rpcBlank = try await carol.send(.post, "/rpc/create_post", json: ["p_body": "\n"])
            #expect(rpcBlank.status == .badRequest)
            // A bulk array over the hourly cap is refused whole.
            let many = (0..<2000).map { ["author_id": me, "body": "post \($0)"] }
            let bulk = try await carol.send(.post, "/posts", json: many)
            #expect(bulk.status == .tooManyRequests, "\(bulk.status) \(String(decoding: bulk.body.prefix(200), as: UTF8.self))")
            #expect(bulk.code == "PT429")
            #expect(try await postCount() == before)
            // One at a time: 30 through the table, then the RPC is refused too (one budget).
            for index in 0..<30 {
                let one = try await carol.send(.post, "/posts", json: ["author_id": me, "body": "one \(index)"])
                #expect(one.status == .created)
            }
            #expect(try await carol.send(.post, "/posts", json: ["author_id": me, "body": "one more"]).status == .tooManyRequests)
            #expect(try await carol.send(.post, "/rpc/create_post", json: ["p_body": "and by RPC"]).status == .tooManyRequests)
            #expect(try await postCount() == before + 30)

            // Targets: at most 10 per post, by table writes too (alice's own post).
            let alice = rest.callAs(try await RestTestClient.token(for: w.a))
            var entities: [String] = []
            for index in 0..<11 {
                let entity = try await alice.send(
                    .post, "/entities", json: ["kind": "place", "name": "spot \(index)", "created_by": w.a.uuidString],
                    headers: ["Prefer": "return=representation"])
                entities.append(try #require(entity.rows.first?["id"] as? String))
            }
            let post = try await alice.send(.post, "/rpc/create_post", json: ["p_body": "many places"])
            let postID = try #require(post.object["id"] as? String)
            let eleven = entities.map { ["post_id": postID, "target_entity_id": $0] }
            let tooMany = try await alice.send(.post, "/post_targets", json: eleven)
            #expect(tooMany.status == .badRequest)
            #expect(try await alice.send(.post, "/post_targets", json: Array(eleven.prefix(10))).status == .created)
            #expect(try await alice.send(.post, "/post_targets", json: [eleven[10]]).status == .badRequest)
        }
    }

    /// Finding 4: a DELETE that matched nothing announced a whole-cache flush.
    @Test("a client write that changes no row drops nobody's cached feed")
    func noRowNoFlush() async throws {
        try await RestWorld.run { (rest: RestTestClient, w: RestWorld, _) async throws in
            let alice = rest.callAs(try await RestTestClient.token(for: w.a))
            let bob = rest.callAs(try await RestTestClient.token(for: w.b))
            func home() async throws -> RestTestClient.Reply { try await bob.send(.post, "/rpc/feed_fusion_home", json: ["p_limit": 20]) }
            _ = try await home()
            #expect(try await home()["Cache-Status"]?.contains("hit") == true)
            let nothing = try await alice.send(.delete, "/entities?id=eq.\(UUID())")
            #expect(nothing.status == .noContent)
            let unchanged = try await alice.send(.patch, "/entities?id=eq.\(UUID())", json: ["name": "renamed"])
            #expect(unchanged.status == .noContent)
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await home()["Cache-Status"]?.contains("hit") == true)
            // A real change of a place a feed shows still drops it.
            let renamed = try await rest.callAs(try await RestTestClient.serviceKey())
                .send(.patch, "/entities?id=eq.\(w.place)", json: ["name": "Renamed Park"])
            #expect(renamed.status == .noContent)
            #expect(try await eventually { try await home()["Cache-Status"]?.contains("hit") == false })
        }
    }

    /// Finding 6: likes and mentions showed private and blocking profiles.
    @Test("likes and mentions follow the liker's and the mentioned profile's visibility")
    func likesAndMentions() async throws {
        try await RestWorld.run { (rest: RestTestClient, w: RestWorld, database: TestDatabase) async throws in
            let bobsPost = try await database.withClient { client in
                try await client.query("SELECT id FROM public.posts WHERE body = 'b-public'").collect().first!.decode(UUID.self)
            }
            // Alice blocks carol and likes bob's public post: carol must not follow alice's likes.
            _ = try await database.withClient { client in
                try await client.query("INSERT INTO public.post_likes (post_id, profile_id) VALUES (\(bobsPost), \(w.a))")
            }
            let carol = rest.callAs(try await RestTestClient.token(for: w.c))
            #expect(try await carol.get("/posts?select=id&id=eq.\(bobsPost)").rows.count == 1)
            #expect(try await carol.get("/post_likes?select=profile_id&post_id=eq.\(bobsPost)").rows.isEmpty)
            #expect(try await rest.get("/post_likes?select=profile_id&post_id=eq.\(bobsPost)").rows.count == 1)
            // Bob turns private and likes alice's public post: strangers do not see that he did.
            try await database.withClient { client in
                try await client.query("UPDATE public.profiles SET is_private = true WHERE id = \(w.b)")
                try await client.query("INSERT INTO public.post_likes (post_id, profile_id) VALUES (\(w.publicPost), \(w.b))")
            }
            let anonLikes = try await rest.get("/post_likes?select=profile_id&post_id=eq.\(w.publicPost)")
            #expect(anonLikes.status == .ok)
            #expect(anonLikes.rows.isEmpty, "\(anonLikes.rows)")
            let bob = rest.callAs(try await RestTestClient.token(for: w.b))
            #expect(try await bob.get("/post_likes?select=profile_id&profile_id=eq.\(w.b)").rows.count == 1)
            // The mention of private bob: hidden from anon, shown to bob himself.
            let anonTargets = try await rest.get("/post_targets?select=target_profile_id&target_profile_id=not.is.null")
            #expect(anonTargets.rows.isEmpty, "\(anonTargets.rows)")
            #expect(try await bob.get("/post_targets?select=target_profile_id&target_profile_id=eq.\(w.b)").rows.count == 1)
            // The entity target of the same post stays visible.
            #expect(try await rest.get("/post_targets?select=target_entity_id&target_entity_id=eq.\(w.place)").rows.count == 1)
        }
    }

    /// Finding 5: a banned user's access token still wrote through /rest/v1 until it expired.
    @Test("a ban, a global sign-out and a deleted user end /rest/v1 access at once")
    func sessionsReallyEnd() async throws {
        try await TestApp.withAuth { (auth: AuthTestClient, app: TestApp, _) async throws in
            let rest = RestTestClient(client: auth.client, apiKey: auth.apiKey)
            let service = try await app.apiKey(.serviceRole)
            func signIn(_ email: String) async throws -> (token: String, id: String) {
                let reply = try await auth.signIn(email, "a long pass phrase")
                return (reply["access_token"] as? String ?? "", (reply["user"] as? [String: Any])?["id"] as? String ?? "")
            }
            func post(_ token: String) async throws -> RestTestClient.Reply {
                try await rest.callAs(token).send(.post, "/rpc/create_post", json: ["p_body": "still here?"])
            }
            for email in ["banned@example.com", "leaver@example.com", "gone@example.com"] {
                #expect(try await auth.signUp(email, "a long pass phrase").status == .ok)
            }

            // Ban: the token that worked a moment ago is refused, in PostgREST's shape.
            let banned = try await signIn("banned@example.com")
            #expect(try await post(banned.token).status == .ok)
            #expect(try await auth.send(.put, "/admin/users/\(banned.id)", json: ["ban_duration": "24h"], bearer: service).status == .ok)
            let refused = try await post(banned.token)
            #expect(refused.status == .unauthorized)
            #expect(refused.code == "PGRST301")
            #expect(refused.object.keys.sorted() == ["code", "details", "hint", "message"])
            #expect(try await rest.callAs(banned.token).get("/posts?select=id").status == .unauthorized)

            // A global sign-out from one device ends the other device's token too.
            let phone = try await signIn("leaver@example.com")
            let laptop = try await signIn("leaver@example.com")
            #expect(try await post(laptop.token).status == .ok)
            #expect(try await auth.send(.post, "/logout?scope=global", bearer: phone.token).status == .noContent)
            #expect(try await post(laptop.token).status == .unauthorized)
            #expect(try await post(phone.token).status == .unauthorized)

            // A deleted user.
            let gone = try await signIn("gone@example.com")
            #expect(try await rest.callAs(gone.token).get("/posts?select=id").status == .ok)
            #expect(try await auth.send(.delete, "/admin/users/\(gone.id)", json: [String: Any](), bearer: service).status == .ok)
            #expect(try await rest.callAs(gone.token).get("/posts?select=id").status == .unauthorized)
        }
    }

    /// Finding 2: every pooled connection was the superuser `postgres`.
    @Test("requests run on authenticator, which is no superuser and can only become the three roles")
    func requestRole() async throws {
        try await RestWorld.run { (rest: RestTestClient, _, database: TestDatabase) async throws in
            let ready = try await createAndReload([
                "CREATE FUNCTION public.who_runs() RETURNS text LANGUAGE sql STABLE AS $$ SELECT session_user || '/' || current_user $$",
                "GRANT EXECUTE ON FUNCTION public.who_runs() TO anon",
            ], in: database) { try await rest.get("/rpc/who_runs").status == .ok }
            #expect(ready)
            #expect(String(decoding: try await rest.get("/rpc/who_runs").body, as: UTF8.self) == #""authenticator/anon""#)
            let attributes = try await database.withClient { client in
                try await client.query(
                    "SELECT (rolsuper OR rolbypassrls OR rolinherit)::text FROM pg_roles WHERE rolname = 'authenticator'"
                ).collect().first?.decode(String.self)
            }
            #expect(attributes == "false")
        }
    }

    /// Finding 8: the failure count was checked before bcrypt and recorded after: 20 concurrent wrong
    /// passwords all passed the check.
    @Test("concurrent wrong passwords are counted before the hash: no more than the limit get through")
    func signInThrottleRace() async throws {
        try await TestApp.withAuth(configure: { $0.auth.failedSignInLimit = 5 }) { (auth: AuthTestClient, _, _) async throws in
            #expect(try await auth.signUp("target@example.com", "a long pass phrase").status == .ok)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for index in 0..<20 {
                    group.addTask { try await auth.signIn("target@example.com", "wrong guess \(index)").status }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .badRequest }.count == 5, "\(statuses)")
            #expect(statuses.filter { $0 == .tooManyRequests }.count == 15)
            // The right password is refused too until the window passes: the budget is spent.
            #expect(try await auth.signIn("target@example.com", "a long pass phrase").status == .tooManyRequests)
        }
    }

    /// Finding 7: an email change was applied at once and kept confirmed, and a new password left
    /// every other session signed in.
    @Test("with confirmation on, a new email waits; a new password ends the other sessions")
    func accountChanges() async throws {
        try await TestApp.withAuth(configure: { $0.auth.emailConfirmationRequired = true }) { (auth: AuthTestClient, app: TestApp, _) async throws in
            let service = try await app.apiKey(.serviceRole)
            for email in ["owner@example.com", "victim@example.com"] {
                let created = try await auth.send(
                    .post, "/admin/users", json: ["email": email, "password": "a long pass phrase", "email_confirm": true], bearer: service)
                #expect(created.status == .ok)
            }
            let phone = try await auth.signIn("owner@example.com", "a long pass phrase")
            let laptop = try await auth.signIn("owner@example.com", "a long pass phrase")
            let phoneToken = phone["access_token"] as? String ?? ""
            let laptopToken = laptop["access_token"] as? String ?? ""

            let claim = try await auth.send(.put, "/user", json: ["email": "victim@example.com"], bearer: phoneToken)
            #expect(claim.code == "email_exists")
            let changed = try await auth.send(.put, "/user", json: ["email": "new-owner@example.com"], bearer: phoneToken)
            #expect(changed.status == .ok)
            #expect(changed["email"] as? String == "owner@example.com")
            #expect(changed["new_email"] as? String == "new-owner@example.com")
            // Not usable before it is confirmed.
            #expect(try await auth.signIn("new-owner@example.com", "a long pass phrase").status == .badRequest)

            // A new password: the laptop's session ends, the phone's goes on.
            let rest = RestTestClient(client: auth.client, apiKey: auth.apiKey)
            #expect(try await rest.callAs(laptopToken).get("/posts?select=id").status == .ok)
            let newPassword = try await auth.send(.put, "/user", json: ["password": "another long phrase"], bearer: phoneToken)
            #expect(newPassword.status == .ok)
            #expect(try await auth.send(.get, "/user", bearer: laptopToken).code == "session_not_found")
            #expect(try await rest.callAs(laptopToken).get("/posts?select=id").status == .unauthorized)
            #expect(try await auth.refresh(laptop["refresh_token"] as? String ?? "").status == .badRequest)
            #expect(try await auth.send(.get, "/user", bearer: phoneToken).status == .ok)
            #expect(try await rest.callAs(phoneToken).get("/posts?select=id").status == .ok)
        }
    }

    /// Finding 10: schemathesis's two 500s, invalid geometry through table writes.
    @Test("an invalid geometry is the client's 400, never a 500")
    func invalidGeometry() async throws {
        try await RestWorld.run { (rest: RestTestClient, w: RestWorld, _) async throws in
            let alice = rest.callAs(try await RestTestClient.token(for: w.a))
            for location in ["", "abc", "0101", "LINESTRING(0 0)", "POINT(1)"] {
                let post = try await alice.send(.post, "/posts", json: ["author_id": w.a.uuidString, "body": "here", "location": location])
                #expect(post.status == .badRequest, "\(location) → \(post.status)")
                #expect(post.code == "22P02")
                let entity = try await alice.send(
                    .post, "/entities", json: ["kind": "place", "name": "x", "location": location, "created_by": w.a.uuidString])
                #expect(entity.status == .badRequest)
            }
            let good = try await alice.send(.post, "/posts", json: ["author_id": w.a.uuidString, "body": "here", "location": "POINT(2.35 48.85)"])
            #expect(good.status == .created)
        }
    }
}
