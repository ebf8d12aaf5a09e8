"""LLM-as-judge evaluators: an LLM grades sampled live runs by a rubric, and its verdicts become scores.

`decisions` (pure: sampling, the judge's prompt, reading verdicts, retries, the daily cap),
`rubric` (the restricted template a rubric is), `judge` (the HTTP call), `services` (the
claim-and-judge pass the beat runs, through `scores.tasks`), `selectors` (judge spend, a run's
evaluations) and `api` (/api/v1/evaluators). Their tables are in `scores.models`.
"""
