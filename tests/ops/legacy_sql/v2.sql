-- Legacy migration 2: teams and team members (our reconstruction of the seed's hand-written SQL).
CREATE TABLE teams (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT pk_teams PRIMARY KEY (id)
);

CREATE TABLE team_members (
  team_id uuid NOT NULL,
  user_id uuid NOT NULL,
  role text NOT NULL DEFAULT 'member',
  CONSTRAINT pk_team_members PRIMARY KEY (team_id, user_id),
  CONSTRAINT fk_team_members_team_id_teams FOREIGN KEY (team_id) REFERENCES teams (id) ON DELETE CASCADE,
  CONSTRAINT fk_team_members_user_id_users FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE CASCADE
);

ALTER TABLE teams ENABLE ROW LEVEL SECURITY;
ALTER TABLE team_members ENABLE ROW LEVEL SECURITY;

CREATE POLICY "Members can view their teams" ON teams
  FOR SELECT USING (id IN (SELECT tm.team_id FROM team_members tm WHERE tm.user_id = auth.uid()));
CREATE POLICY "Members can view their own memberships" ON team_members
  FOR SELECT USING (user_id = auth.uid());

INSERT INTO schema_migrations (version) VALUES (2);
