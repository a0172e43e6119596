-- Rows set aside by the durable jobs of libs/jobs, applied to every schema whose jobs claim rows.
-- depends:

-- A claimed row whose work failed for a reason of its own (a refusal by the service it asked, a constraint
-- its change broke, a bug on its data) is recorded here with its error, and its job's claim skips it from
-- then on: one bad row never holds up the rows behind it. An operator lists them and puts them back in
-- line (`python -m libs.jobs set-aside`); a row that fails again is set aside again, one attempt more.
CREATE TABLE job_set_aside (
    job          text        NOT NULL,           -- the job's name within its service
    row_key      text        NOT NULL,           -- the claimed row's key, as its claim writes it
    error        text        NOT NULL,           -- the last failure: its type, reason and message
    attempts     integer     NOT NULL DEFAULT 1 CHECK (attempts >= 1),  -- failures, over every put-back
    set_aside_at timestamptz NOT NULL DEFAULT now(),  -- since when (the last failure)
    put_back_at  timestamptz,                     -- put back in line by an operator: claimed again
    PRIMARY KEY (job, row_key)
);
