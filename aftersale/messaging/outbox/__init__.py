"""The outbox: every email is a Message row, and only this package writes them.

`services` queues emails (once per key), claims due ones for a sender, takes what email
services report and keeps the suppression list; `recording` writes what the relay
answered into the rows the sender holds; `status` is the one table of allowed status
moves; `selectors` reads the outbox; `signals` tells the apps above what happened."""
