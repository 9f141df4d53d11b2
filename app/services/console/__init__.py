"""The staff console: signing in, and what its pages show (the routes are in app.console)."""
