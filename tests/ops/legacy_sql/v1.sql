-- Legacy migration 1: the v1 baseline (our reconstruction of the seed's hand-written SQL).
CREATE TABLE IF NOT EXISTS schema_migrations (
  version integer PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE taptik_packages (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  config_id text,
  user_id uuid,
  name text,
  title text,
  platform text,
  version text,
  is_public boolean DEFAULT false,
  download_count integer DEFAULT 0,
  user_tags text[],
  metadata jsonb,          -- v1 clients put title, description, tags here
  checksum text,           -- sha256 hex of the package file
  storage_url text,        -- object key in bucket taptik-packages
  file_size bigint,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT pk_taptik_packages PRIMARY KEY (id),
  CONSTRAINT fk_taptik_packages_user_id_users FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE
);

ALTER TABLE taptik_packages ENABLE ROW LEVEL SECURITY;

CREATE POLICY "Users can view public packages" ON taptik_packages
  FOR SELECT USING (is_public OR auth.uid() = user_id);
CREATE POLICY "Users can manage own packages" ON taptik_packages
  FOR ALL USING (auth.uid() = user_id);

INSERT INTO schema_migrations (version) VALUES (1);
