-- depends: events_0001_outbox_inbox
CREATE TABLE notes (
    note_id    uuid PRIMARY KEY,
    author     text NOT NULL,
    text       text NOT NULL CHECK (length(text) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The consumer's effect: how many NoteCreated events were applied per author.
CREATE TABLE note_stats (
    author text PRIMARY KEY,
    notes  integer NOT NULL
);
