-- Why a delivery was refused its effect (a fork's run, a run a pull request triggered), so an
-- operator can tell from the table what Fixpoint would not act on, and why.
ALTER TABLE deliveries ADD COLUMN reason TEXT;
