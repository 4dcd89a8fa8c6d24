-- Codes and links the auth service mails (issue 21): confirming a sign-up, recovering a password.
-- Only hashes are stored. A token works once (deleted when used), for MAILER_OTP_EXPIRY_SECONDS;
-- one live token per account and kind (a new mail replaces it); a code wrong five times is void.
-- The six-digit code is hashed with the address (sha256(lower(email) || code)); the link carries a
-- separate random token (sha256 stored), so knowing an address does not make links guessable.
CREATE TABLE auth.one_time_tokens (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('confirmation', 'recovery')),
    code_hash text NOT NULL CHECK (code_hash ~ '^[0-9a-f]{64}$'),
    link_hash text NOT NULL CHECK (link_hash ~ '^[0-9a-f]{64}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    failed_attempts integer NOT NULL DEFAULT 0,
    UNIQUE (user_id, kind)
);
CREATE INDEX one_time_tokens_link_idx ON auth.one_time_tokens (link_hash);
ALTER TABLE auth.one_time_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth.one_time_tokens FORCE ROW LEVEL SECURITY;
REVOKE ALL ON auth.one_time_tokens FROM PUBLIC, anon, authenticated;
-- The auth service's transactions run as service_role (BYPASSRLS), as for sessions.
GRANT SELECT, INSERT, UPDATE, DELETE ON auth.one_time_tokens TO service_role;
