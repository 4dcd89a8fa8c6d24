-- Supabase-style roles. Roles belong to the whole cluster, so they are created only when missing
-- (a second database on the same server, or a test clone, finds them already there).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'anon') THEN
        CREATE ROLE anon NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticated') THEN
        CREATE ROLE authenticated NOLOGIN NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'service_role') THEN
        -- The operator's key: bypasses Row Level Security, as in Supabase.
        CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'authenticator') THEN
        -- Logs in, holds no privileges of its own, and can only become one of the three above.
        CREATE ROLE authenticator LOGIN NOINHERIT;
    END IF;
END
$$;

GRANT anon, authenticated, service_role TO authenticator;
-- The role that runs the server (whoever owns this database) switches roles per request too.
GRANT anon, authenticated, service_role TO CURRENT_USER;

-- Extensions live outside the exposed schema so that their tables (spatial_ref_sys) are not
-- served by the data API and need no policies.
CREATE SCHEMA IF NOT EXISTS extensions;
CREATE EXTENSION IF NOT EXISTS postgis WITH SCHEMA extensions;
GRANT USAGE ON SCHEMA extensions TO anon, authenticated, service_role;

-- Helpers that policies call; never exposed through the API.
CREATE SCHEMA internal;
GRANT USAGE ON SCHEMA internal TO anon, authenticated, service_role;

-- Nobody but the owner creates objects in public.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
