import Database
import Logging
import PostgresNIO

/// The database half of `feedfusion verify`: the security rules FeedFusion's schema promises, read
/// from the catalog of the database as it is now (so a hand-made change that breaks one shows up).
public enum SecurityAudit {
    /// Every function (`schema.name/argument count`, extensions' own aside) that `anon` or
    /// `authenticated` may execute: the API's functions in `public`, the claims readers, the helpers
    /// the policies call, the helpers of the API functions that run as the caller (migration 0017), and
    /// the private-channel check the realtime server runs as the joining user (migration 0023; the
    /// `realtime` schema is never exposed through the data API), and the admin dashboard's functions.
    /// Anything else executable by them is a mistake `verify` reports.
    public static let clientExecutableFunctions: Set<String> = [
        "auth.jwt/0", "auth.role/0", "auth.uid/0",
        "internal.can_see_profile/2", "internal.is_blocked_between/2", "internal.viewer_block_partners/0",
        "internal.viewer_blocked_by/0", "internal.viewer_followed_profiles/0",
        "internal.decode_cursor/1", "internal.encode_cursor/2", "internal.feed_limit/1", "internal.feed_rows/1",
        "internal.posts_by_authors/4", "internal.located_post_candidates/5", "internal.require_user/1",
        "public.admin_ban_user/2", "public.admin_dashboard_stats/0", "public.admin_delete_post/1", "public.admin_set_user_ban/2",
        "public.admin_stats/0", "public.block_profile/1", "public.check_rate_limit/3", "public.create_post/6",
        "public.feed_fusion_entity/3", "public.feed_fusion_home/2", "public.feed_fusion_nearby/5", "public.feed_fusion_profile/3",
        "public.follow_entity/1", "public.follow_profile/1", "public.is_admin/0", "public.like_post/1",
        "public.log_usage_event_v2/4", "public.log_usage_events/1", "public.search_profiles/2", "public.track_metrics/1",
        "public.unblock_profile/1", "public.unfollow_entity/1", "public.unfollow_profile/1", "public.unlike_post/1",
        "realtime.authorize/1", "realtime.stage_probe/1", "realtime.topic/0",
        // The admin dashboard's functions (migration 0028): each refuses non-admins itself.
        "public.admin_activity/1", "public.admin_audit_log/2", "public.admin_delete_user/1", "public.admin_record_action/2",
        "public.admin_set_admin/2", "public.admin_sign_out_user/1", "public.admin_user/1", "public.admin_users/3",
        // Reporting and moderation (migration 0029).
        "public.report_post/3", "public.admin_report_queue/2", "public.admin_resolve_reports/2", "public.admin_recent_posts/2",
        "public.admin_post_reasons/2",
        // Errors (migration 0030).
        "public.admin_error_groups/2", "public.admin_error_events/2",
        // The telemetry explorer (migration 0031).
        "public.admin_usage_summary/2", "public.admin_client_metrics/1",
        // What anyone not blocked may know of a private profile, to ask to follow it (migration 0034).
        "public.profile_summary/1",
        // What a Data API answer's statement raises when the server refuses the answer (migration 0038):
        // it only raises, and the caller's own statement calls it.
        "internal.refuse_answer/2",
    ]

    /// Every check, in report order. `schemas` are the exposed schemas (`DB_SCHEMAS`); `auth` is always included.
    public static func run(on connection: PostgresConnection, schemas: [String], logger: Logger) async throws -> [ReadinessCheck] {
        let audited = Array(Set(schemas + ["auth"])).sorted()
        return [
            .expectingNone(
                "rls_enabled_and_forced",
                try await strings(connection, logger, """
                    SELECT n.nspname || '.' || c.relname || CASE WHEN NOT c.relrowsecurity THEN ' (RLS off)' ELSE ' (RLS not forced)' END
                    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = ANY(\(audited)) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                      AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
                    ORDER BY 1
                    """),
                passing: "every table of \(audited.joined(separator: ", ")) has Row Level Security enabled and forced",
                failing: "tables without Row Level Security enabled and forced"),
            .expectingNone(
                "definer_search_path",
                try await strings(connection, logger, """
                    SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                    WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'extensions')
                      AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}')) c WHERE c LIKE 'search\\_path=%')
                    ORDER BY 1
                    """),
                passing: "every SECURITY DEFINER function has a fixed search_path",
                failing: "SECURITY DEFINER functions without a fixed search_path (a caller's objects could be picked up)"),
            .expectingNone(
                "definer_guard",
                // Callable through the data API (exposed schema, EXECUTE for a client role), runs as its
                // owner, and never asks who is calling: it could act on anyone's data.
                try await strings(connection, logger, """
                    SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                    WHERE p.prosecdef AND n.nspname = ANY(\(schemas)) AND p.prorettype <> 'trigger'::regtype
                      AND (has_function_privilege('anon', p.oid, 'EXECUTE') OR has_function_privilege('authenticated', p.oid, 'EXECUTE'))
                      AND p.prosrc !~ '(is_admin|auth\\.uid|require_user|require_admin)\\s*\\('
                    ORDER BY 1
                    """),
                passing: "every SECURITY DEFINER function clients can call checks is_admin(), auth.uid(), require_user() or require_admin()",
                failing: "SECURITY DEFINER functions clients can call that never check who is calling"),
            .expectingNone(
                "client_role_privileges",
                try await strings(connection, logger, """
                    SELECT grantee || ' has ' || privilege_type || ' on ' || table_schema || '.' || table_name
                    FROM information_schema.role_table_grants
                    WHERE grantee IN ('anon', 'authenticated', 'PUBLIC')
                      AND (table_schema IN ('auth', 'internal', 'feedfusion') OR privilege_type IN ('TRUNCATE', 'REFERENCES', 'TRIGGER'))
                    ORDER BY 1
                    """),
                passing: "anon and authenticated cannot touch auth/internal tables, truncate, reference or add triggers",
                failing: "privileges client roles should not have"),
            .expectingNone(
                "client_executable_functions",
                try await strings(connection, logger, """
                    SELECT f.name FROM (
                        SELECT n.nspname || '.' || p.proname || '/' || p.pronargs AS name
                        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
                          AND NOT EXISTS (SELECT 1 FROM pg_depend d
                                          WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
                          AND (has_function_privilege('anon', p.oid, 'EXECUTE') OR has_function_privilege('authenticated', p.oid, 'EXECUTE'))
                    ) f
                    WHERE f.name <> ALL(\(Array(clientExecutableFunctions)))
                    ORDER BY 1
                    """),
                passing: "anon and authenticated may execute only the API's functions and the helpers that run as them",
                failing: "functions anon or authenticated may execute that are not on the allow-list"),
            .expectingNone(
                "anon_policies_read_only",
                try await strings(connection, logger, """
                    SELECT schemaname || '.' || tablename || ': policy ' || policyname || ' for ' || cmd
                    FROM pg_policies
                    WHERE schemaname = ANY(\(audited)) AND cmd <> 'SELECT' AND roles && ARRAY['anon', 'public']::name[]
                    ORDER BY 1
                    """),
                passing: "no policy lets anon (or every role) write",
                failing: "policies that let anon write"),
        ]
    }
}
