-- The social graph and its content. Policies come in the next migration.

-- One profile per user, keyed by the user's id (as in Supabase).
CREATE TABLE public.profiles (
    id uuid PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
    username text NOT NULL CHECK (username ~ '^[A-Za-z0-9_]{3,30}$'),
    display_name text CHECK (char_length(display_name) <= 100),
    bio text CHECK (char_length(bio) <= 1000),
    avatar_url text CHECK (char_length(avatar_url) <= 2048),
    -- A private profile is seen, and its posts read, only by accepted followers.
    is_private boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX profiles_username_key ON public.profiles (lower(username));

-- Things posts can target and people can follow: places, groups, events…
CREATE TABLE public.entities (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    kind text NOT NULL CHECK (kind IN ('place', 'group', 'event', 'topic', 'organization')),
    name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    description text CHECK (char_length(description) <= 2000),
    location extensions.geography(Point, 4326),
    created_by uuid REFERENCES public.profiles (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX entities_location_idx ON public.entities USING gist (location);
CREATE INDEX entities_kind_name_idx ON public.entities (kind, lower(name));

-- A profile follows either a profile or an entity. Following a private profile starts as a
-- request ('pending') that the followed profile accepts.
CREATE TABLE public.follows (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    follower_id uuid NOT NULL REFERENCES public.profiles (id) ON DELETE CASCADE,
    followed_profile_id uuid REFERENCES public.profiles (id) ON DELETE CASCADE,
    followed_entity_id uuid REFERENCES public.entities (id) ON DELETE CASCADE,
    status text NOT NULL DEFAULT 'accepted' CHECK (status IN ('pending', 'accepted')),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT follows_one_target CHECK (num_nonnulls(followed_profile_id, followed_entity_id) = 1),
    CONSTRAINT follows_not_self CHECK (follower_id <> followed_profile_id),
    CONSTRAINT follows_profile_once UNIQUE (follower_id, followed_profile_id),
    CONSTRAINT follows_entity_once UNIQUE (follower_id, followed_entity_id)
);
-- "Who follows X" (followers lists, feed fan-in) next to the unique indexes' "whom does X follow".
CREATE INDEX follows_followed_profile_idx ON public.follows (followed_profile_id, follower_id) WHERE followed_profile_id IS NOT NULL;
CREATE INDEX follows_followed_entity_idx ON public.follows (followed_entity_id, follower_id) WHERE followed_entity_id IS NOT NULL;

CREATE TABLE public.blocks (
    blocker_id uuid NOT NULL REFERENCES public.profiles (id) ON DELETE CASCADE,
    blocked_id uuid NOT NULL REFERENCES public.profiles (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (blocker_id, blocked_id),
    CONSTRAINT blocks_not_self CHECK (blocker_id <> blocked_id)
);
CREATE INDEX blocks_blocked_idx ON public.blocks (blocked_id, blocker_id);

CREATE TABLE public.posts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    author_id uuid NOT NULL REFERENCES public.profiles (id) ON DELETE CASCADE,
    body text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 2000),
    visibility text NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'followers', 'private')),
    location extensions.geography(Point, 4326),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Keyset pagination, newest first: globally and per author.
CREATE INDEX posts_created_idx ON public.posts (created_at DESC, id DESC);
CREATE INDEX posts_author_created_idx ON public.posts (author_id, created_at DESC, id DESC);
CREATE INDEX posts_location_idx ON public.posts USING gist (location) WHERE location IS NOT NULL;

-- A post targets entities and/or profiles, one row per target.
CREATE TABLE public.post_targets (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    post_id uuid NOT NULL REFERENCES public.posts (id) ON DELETE CASCADE,
    target_entity_id uuid REFERENCES public.entities (id) ON DELETE CASCADE,
    target_profile_id uuid REFERENCES public.profiles (id) ON DELETE CASCADE,
    CONSTRAINT post_targets_one_target CHECK (num_nonnulls(target_entity_id, target_profile_id) = 1),
    CONSTRAINT post_targets_entity_once UNIQUE (post_id, target_entity_id),
    CONSTRAINT post_targets_profile_once UNIQUE (post_id, target_profile_id)
);
CREATE INDEX post_targets_entity_idx ON public.post_targets (target_entity_id, post_id) WHERE target_entity_id IS NOT NULL;
CREATE INDEX post_targets_profile_idx ON public.post_targets (target_profile_id, post_id) WHERE target_profile_id IS NOT NULL;

CREATE TABLE public.post_likes (
    post_id uuid NOT NULL REFERENCES public.posts (id) ON DELETE CASCADE,
    profile_id uuid NOT NULL REFERENCES public.profiles (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (post_id, profile_id)
);
CREATE INDEX post_likes_profile_idx ON public.post_likes (profile_id, created_at DESC);

-- Keep updated_at honest whatever path the write takes.
CREATE FUNCTION internal.touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = ''
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;
CREATE TRIGGER profiles_touch BEFORE UPDATE ON public.profiles FOR EACH ROW EXECUTE FUNCTION internal.touch_updated_at();
CREATE TRIGGER posts_touch BEFORE UPDATE ON public.posts FOR EACH ROW EXECUTE FUNCTION internal.touch_updated_at();
