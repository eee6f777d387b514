"""What every app may use and that belongs to none: the injectable clock, signed tokens,
typed environment settings and row claims. Nothing here imports an app."""
