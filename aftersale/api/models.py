# This app has no models.
