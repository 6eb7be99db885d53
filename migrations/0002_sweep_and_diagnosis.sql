-- What the sweep saw and what the diagnosis concluded, per investigation (JSON).
ALTER TABLE investigations ADD COLUMN sweep TEXT;
ALTER TABLE investigations ADD COLUMN diagnosis TEXT;
