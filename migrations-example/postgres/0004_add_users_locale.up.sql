-- Users choose their language. Nullable with a default: old code keeps working.
ALTER TABLE users ADD COLUMN locale TEXT DEFAULT 'en';
