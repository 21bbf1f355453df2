-- Legacy migration 3: v2 package columns, their backfill, partial indexes, v2 policies
-- (our reconstruction of the seed's hand-written SQL).
ALTER TABLE taptik_packages
  ADD COLUMN description text,
  ADD COLUMN team_id uuid,
  ADD COLUMN sanitization_level text,
  ADD COLUMN likes integer NOT NULL DEFAULT 0,
  ADD COLUMN views integer NOT NULL DEFAULT 0,
  ADD COLUMN archived_at timestamptz;

ALTER TABLE taptik_packages ADD CONSTRAINT fk_taptik_packages_team_id_teams
  FOREIGN KEY (team_id) REFERENCES teams (id) ON DELETE SET NULL;

UPDATE taptik_packages SET
  title = coalesce(title, metadata->>'title'),
  description = coalesce(description, metadata->>'description', 'Package ' || name),
  sanitization_level = coalesce(sanitization_level, 'none');

CREATE INDEX ix_taptik_packages_team_id ON taptik_packages (team_id) WHERE team_id IS NOT NULL;
CREATE INDEX ix_taptik_packages_archived_at ON taptik_packages (archived_at) WHERE archived_at IS NOT NULL;
CREATE INDEX ix_taptik_packages_likes ON taptik_packages (likes) WHERE likes > 0;

DROP POLICY "Users can view public packages" ON taptik_packages;
DROP POLICY "Users can manage own packages" ON taptik_packages;
CREATE POLICY "Packages are visible to owner, public or team" ON taptik_packages
  FOR SELECT USING (auth.uid() = user_id OR is_public OR team_id IN
    (SELECT tm.team_id FROM team_members tm WHERE tm.user_id = auth.uid()));
CREATE POLICY "Owners manage their packages" ON taptik_packages
  FOR ALL USING (auth.uid() = user_id) WITH CHECK (auth.uid() = user_id);

INSERT INTO schema_migrations (version) VALUES (3);
