"""Owns getting each judged workout to Strava exactly once, for few API calls.

- ``archive``: ``upload.after``: what happens to a workout's files once Strava holds the
  activity.
- ``batch``: Settling many uploads with one list call: what to send now, and what an answer
  settles.
- ``engine``: The upload engine: dispatches the work that gets each valid workout to
  Strava once.
- ``follow``: After the POST: following uploads until they are activities, and updating
  them.
- ``gates``: What the engine and its transfers share while uploads run: the gates and the
  halt.
- ``icu``: Owns the intervals.icu POST: claim, resolve a claim left in flight, send,
  record.
- ``learning``: Learning how long Strava takes to process an upload, per format and size
  band.
- ``listing``: Whether uploads in flight are followed by activity lists or by single polls,
  and why.
- ``mishaps``: Owns what a job that failed means: a bug backs its workout off, a full state
  folder waits.
- ``outcomes``: What Strava's answers mean for the store: one place that records every
  upload's end.
- ``polling``: When to look at an upload again, and how long to back off: pure timing
  decisions.
- ``ports``: The seams between the engine and the outside: what it needs of Strava and the
  governor.
- ``slots``: Owns the order in which the Strava accounts of one app take upload slots.
- ``reports``: Owns what the engine reports to those who wait on it: a scan, a wait, when
  work is due.
- ``router``: Owns sending each file to the accounts whose folders hold it: one engine per
  account.
- ``transfer``: The POST: claiming a due workout, sending it, and recording Strava's first
  answer.
"""
