"""The worker: the loop that drives every app's due work (timed triggers, due journeys,
queued emails, the daily fit) in passes, and the `worker` and `serve` commands that run
it. The composition root: it sits above the apps it drives and none of them imports it."""
