"""The HTTP edge: routing, authentication, dispatch to providers, admin API."""
