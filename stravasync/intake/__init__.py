"""Owns intake: watching folders, knowing a file is whole, judging it into the store.

- ``completeness``: Whether a workout file on disk is whole: the watcher's test before
  handing it over.
- ``folders``: Owns what a watched folder's health is, and which file systems deliver no
  change events.
- ``ingest``: Intake: reading a file whole and unchanged, judging it, and recording the
  verdict.
- ``observers``: Owns the watchdog side of the watcher: observers, shared watches, and the
  event filter.
- ``settling``: Owns the debouncing: one hand-over per completed write of each workout
  file.
- ``verdicts``: Owns judging a content once, whichever accounts its file goes to.
- ``watched_folders``: Owns following each configured folder as it comes and goes, and
  what the filter passes.
- ``watcher``: Folder watching: notices workout files and hands each over once it is whole.
"""
